"""F.conv2d with a 5×5 kernel at stride 1 on 32 channels."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"large-kernel"}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.w = nn.Parameter(torch.randn(32, 32, 5, 5) * 0.05)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.relu(F.conv2d(x, self.w, padding=2))
        return self.head(x.mean((2, 3)))


model = Net()
input_shape = (2, 3, 16, 16)
