"""A 1990s-style MLP: three hidden Sigmoid layers. The first Linear's gradient is scaled by ≤ 0.25^3."""
import torch.nn as nn

EXPECT = {"sigmoid-vanishing-gradient"}
SEVERITY = {"sigmoid-vanishing-gradient": "warning"}
COUNT = {"sigmoid-vanishing-gradient": 1}

model = nn.Sequential(
    nn.Flatten(),
    nn.Linear(784, 256), nn.Sigmoid(),
    nn.Linear(256, 128), nn.Sigmoid(),
    nn.Linear(128, 64), nn.Sigmoid(),
    nn.Linear(64, 10),
)
input_shape = (4, 1, 28, 28)
