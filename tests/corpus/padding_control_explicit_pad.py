"""Convolutions with padding=0 fed by explicit padding layers: nn.ReflectionPad2d and F.pad."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = set()
CONTROLS = {"missing-padding"}


class ReflectNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(3, 16, 3)
        self.conv2 = nn.Conv2d(16, 16, 3)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        x = torch.relu(self.conv1(self.pad(x)))
        x = torch.relu(self.conv2(F.pad(x, (1, 1, 1, 1), mode="replicate")))
        return self.head(x.mean((2, 3)))


model = ReflectNet()
input_shape = (2, 3, 24, 24)
