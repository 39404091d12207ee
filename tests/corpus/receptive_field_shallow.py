"""Two 3×3 convolutions and a global average pool on a 128×128 image: each unit sees 5×5 pixels of it."""
import torch.nn as nn

EXPECT = {"receptive-field-coverage"}

model = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
)
input_shape = (1, 3, 128, 128)
