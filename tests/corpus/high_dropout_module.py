"""nn.Dropout(0.8) before the classifier: most of the signal is thrown away at every step."""
import torch.nn as nn

EXPECT = {"high-dropout"}

model = nn.Sequential(
    nn.Linear(100, 256), nn.ReLU(),
    nn.Dropout(0.8),
    nn.Linear(256, 10),
)
input_shape = (4, 100)
