"""A classifier head of two Linear layers with only Dropout between: one Linear(512, 10) written twice."""
import torch.nn as nn

EXPECT = {"missing-nonlinearity"}
COUNT = {"missing-nonlinearity": 1}

model = nn.Sequential(
    nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
    nn.Conv2d(64, 512, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    nn.Linear(512, 256), nn.Dropout(0.2), nn.Linear(256, 10),
)
input_shape = (2, 3, 16, 16)
