"""Dropout inside a residual branch: through the add it reaches the next block's BatchNorm."""
import torch
import torch.nn as nn

EXPECT = {"dropout-before-batchnorm"}
COUNT = {"dropout-before-batchnorm": 1}


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return x + self.drop(self.conv(torch.relu(self.bn(x))))


class PreActNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.blocks = nn.Sequential(Block(16), Block(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean((2, 3)))


model = PreActNet()
input_shape = (2, 3, 16, 16)
