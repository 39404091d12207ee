"""A clean binary classifier: BatchNorm + ReLU body and a single sigmoid output."""
import torch.nn as nn

EXPECT = set()
CONTROLS = {"sigmoid-vanishing-gradient", "softmax-output", "missing-nonlinearity"}

model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
    nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    nn.Linear(32, 1), nn.Sigmoid(),
)
input_shape = (2, 3, 32, 32)
