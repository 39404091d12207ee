"""A CIFAR CNN written without padding: 32×32 shrinks to 10×10 before pooling (61% of the area lost)."""
import torch.nn as nn

EXPECT = {"missing-padding"}
SEVERITY = {"missing-padding": "warning"}
COUNT = {"missing-padding": 4}

model = nn.Sequential(
    nn.Conv2d(3, 32, 3), nn.ReLU(),
    nn.Conv2d(32, 32, 3), nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(),
    nn.Conv2d(64, 64, 3), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    nn.Linear(64, 10),
)
input_shape = (2, 3, 32, 32)
