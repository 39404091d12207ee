"""Strided stages whose last units see the whole 32×32 input before the global pool."""
import torch.nn as nn


def stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())


EXPECT = set()
CONTROLS = {"receptive-field-coverage", "feature-map-collapse"}

model = nn.Sequential(
    stage(3, 16, 1), stage(16, 32, 2), stage(32, 32, 1), stage(32, 64, 2), stage(64, 64, 1), stage(64, 64, 2),
    stage(64, 64, 1), stage(64, 64, 1),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
)
input_shape = (1, 3, 32, 32)
