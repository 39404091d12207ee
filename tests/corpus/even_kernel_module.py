"""A 4×4 convolution at stride 1: no centre tap, features shift by half a pixel."""
import torch.nn as nn

EXPECT = {"even-kernel"}

model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
    nn.Conv2d(16, 16, 4, padding=2), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
)
input_shape = (2, 3, 16, 16)
