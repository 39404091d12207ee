"""DenseNet-BC blocks with the ``p=1e-7`` "hot fix" dropout some ports carry (to keep a checkpoint's
module names): a dropout that scales by 1/(1 − 1e-7) has no variance shift to speak of."""
import torch
import torch.nn as nn
import torch.nn.functional as F

CONTROLS = {"dropout-before-batchnorm"}


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int = 12) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)
        self.drop_rate = 1e-7

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        out = F.dropout(out, p=self.drop_rate, training=self.training)
        return torch.cat([x, out], 1)


class DenseNetBC(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 3, padding=1, bias=False)
        self.block = nn.Sequential(*[DenseLayer(24 + 12 * i) for i in range(6)])
        self.norm = nn.BatchNorm2d(24 + 12 * 6)
        self.fc = nn.Linear(24 + 12 * 6, 10)

    def forward(self, x):
        out = F.relu(self.norm(self.block(self.stem(x))))
        return self.fc(out.mean((2, 3)))


model = DenseNetBC()
input_shape = (2, 3, 16, 16)
