"""AlexNet/VGG-style classifier with Dropout(0.5), and p = 0 dropouts: not high."""
import torch.nn as nn

EXPECT = set()
CONTROLS = {"high-dropout", "dropout-before-batchnorm"}

model = nn.Sequential(
    nn.Flatten(),
    nn.Dropout(0.5), nn.Linear(3 * 8 * 8, 256), nn.ReLU(),
    nn.Dropout(0.5), nn.Linear(256, 256), nn.ReLU(),
    nn.Dropout(0.0), nn.Linear(256, 10),
)
input_shape = (2, 3, 8, 8)
