"""Squeeze-excitation gates, a GLU, x*sigmoid(x) and a sigmoid head: saturating, but never a chain."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = set()
CONTROLS = {"sigmoid-vanishing-gradient"}


class SEBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.fc1 = nn.Conv2d(channels, channels // 4, 1)
        self.fc2 = nn.Conv2d(channels // 4, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        s = self.gate(self.fc2(torch.relu(self.fc1(F.adaptive_avg_pool2d(y, 1)))))
        return y * s


class GatedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*[SEBlock(16) for _ in range(4)])
        self.proj = nn.Linear(16, 64)
        self.mid = nn.Linear(32, 32)
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        x = self.blocks(self.stem(x)).mean((2, 3))
        a, b = self.proj(x).chunk(2, dim=1)
        x = a * torch.sigmoid(b)  # GLU written out
        x = self.mid(x)
        x = x * x.sigmoid()  # SiLU written out
        return torch.sigmoid(self.head(x))  # binary classifier head


model = GatedNet()
input_shape = (2, 3, 16, 16)
