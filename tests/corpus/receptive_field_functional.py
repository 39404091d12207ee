"""F.conv2d / F.max_pool2d features pooled globally while their field covers a fraction of a 96×96 input."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"receptive-field-coverage"}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(16, 3, 3, 3) * 0.1)
        self.w2 = nn.Parameter(torch.randn(16, 16, 3, 3) * 0.1)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        x = F.relu(F.conv2d(x, self.w1, padding=1))
        x = F.max_pool2d(x, 2)
        x = F.relu(F.conv2d(x, self.w2, padding=1))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


model = Net()
input_shape = (1, 3, 96, 96)
