"""Dropout2d inside the feature extractor, two BatchNorm layers further on."""
import torch.nn as nn

EXPECT = {"dropout-before-batchnorm"}
SEVERITY = {"dropout-before-batchnorm": "warning"}
COUNT = {"dropout-before-batchnorm": 1}

model = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
    nn.Dropout2d(0.2),
    nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
)
input_shape = (2, 3, 32, 32)
