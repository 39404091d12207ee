"""BatchNorm1d on [4, 64] features while training: 4 values per channel for the batch statistics."""
import torch.nn as nn

EXPECT = {"batchnorm-small-batch"}
SEVERITY = {"batchnorm-small-batch": "warning"}
MODE = "train"

model = nn.Sequential(
    nn.Linear(32, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(),
    nn.Linear(64, 10),
)
input_shape = (4, 32)
