"""VGG-BN style: Conv2d keeps its default bias and BatchNorm2d cancels it (info: wasted parameters)."""
import torch.nn as nn

EXPECT = {"bias-before-batchnorm"}
SEVERITY = {"bias-before-batchnorm": "info"}
COUNT = {"bias-before-batchnorm": 2}

model = nn.Sequential(
    nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
    nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
)
input_shape = (2, 3, 16, 16)
