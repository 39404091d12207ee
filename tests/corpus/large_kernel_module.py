"""A dense 7×7 convolution at stride 1 on 64 channels: three 3×3 layers see as far with 27C² instead of 49C²."""
import torch.nn as nn

EXPECT = {"large-kernel"}

model = nn.Sequential(
    nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    nn.Conv2d(64, 64, 7, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
)
input_shape = (2, 3, 16, 16)
