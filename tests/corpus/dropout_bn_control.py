"""Dropout only after the last BatchNorm, p = 0 dropouts before BatchNorm, and dropout ending in LayerNorm."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = set()
CONTROLS = {"dropout-before-batchnorm"}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.drop0 = nn.Dropout(0.0)  # ViT-style p = 0: not a dropout at all
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.token = nn.Linear(32, 32)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.dropout(self.drop0(x), p=0.0, training=self.training)
        x = F.relu(self.bn2(self.conv2(x)))
        x = x.mean((2, 3))
        x = self.norm(F.gelu(self.token(F.dropout(x, 0.3, self.training))))
        return self.head(F.dropout(x, 0.3, self.training))


model = Net()
input_shape = (2, 3, 16, 16)
MODE = "train"
