"""F.dropout(p=0.5) on features that then go through Linear → BatchNorm1d (error: p ≥ 0.5).

The hooks tracer cannot see F.dropout in eval mode (it runs no op), so this file is audited in
train mode, where both tracers see it (fx: ``dropout``; hooks: ``bernoulli_``).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"dropout-before-batchnorm"}
SEVERITY = {"dropout-before-batchnorm": "error"}
MODE = "train"


class TabularNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 64, bias=False)
        self.bn1 = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 64, bias=False)
        self.bn2 = nn.BatchNorm1d(64)
        self.out = nn.Linear(64, 3)

    def forward(self, x):
        x = F.relu(self.bn1(self.fc1(x)))
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.relu(self.bn2(self.fc2(x)))
        return self.out(x)


model = TabularNet()
input_shape = (32, 20)
