"""Five stride-2 stages on a 16×16 input: the map is 1×1 before the global pooling."""
import torch.nn as nn


def stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


EXPECT = {"feature-map-collapse"}

model = nn.Sequential(
    stage(3, 16), stage(16, 32), stage(32, 64), stage(64, 64), stage(64, 128),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
)
input_shape = (2, 3, 16, 16)
