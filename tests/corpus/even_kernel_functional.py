"""F.conv2d with a 2×2 kernel at stride 1 on a padded map."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"even-kernel"}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.w = nn.Parameter(torch.randn(8, 8, 2, 2) * 0.1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = F.relu(F.conv2d(F.pad(x, (0, 1, 0, 1)), self.w))
        return self.head(x.mean((2, 3)))


model = Net()
input_shape = (2, 3, 12, 12)
