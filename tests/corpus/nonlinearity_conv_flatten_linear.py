"""A convolution flattened straight into a Linear classifier, with no activation after the convolution."""
import torch.nn as nn

EXPECT = {"missing-nonlinearity"}
COUNT = {"missing-nonlinearity": 1}

model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1),
    nn.Flatten(),
    nn.Linear(32 * 14 * 14, 10),
)
input_shape = (2, 1, 28, 28)
