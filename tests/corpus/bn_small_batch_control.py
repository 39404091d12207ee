"""The same BatchNorm1d head trained at batch 32: enough values per channel."""
import torch.nn as nn

EXPECT = set()
CONTROLS = {"batchnorm-small-batch"}
MODE = "train"

model = nn.Sequential(
    nn.Linear(32, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(),
    nn.Linear(64, 10),
)
input_shape = (32, 32)
