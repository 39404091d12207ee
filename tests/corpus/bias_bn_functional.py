"""F.linear with a bias straight into F.batch_norm, and an InstanceNorm after a biased Conv1d."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"bias-before-batchnorm"}
COUNT = {"bias-before-batchnorm": 2}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(32, 16) * 0.1)
        self.bias = nn.Parameter(torch.zeros(32))
        self.register_buffer("mean", torch.zeros(32))
        self.register_buffer("var", torch.ones(32))
        self.conv = nn.Conv1d(1, 8, 3, padding=1)
        self.inorm = nn.InstanceNorm1d(8)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = F.linear(x, self.weight, self.bias)
        x = torch.relu(F.batch_norm(x, self.mean, self.var, training=False))
        x = torch.relu(self.inorm(self.conv(x.unsqueeze(1))))
        return self.head(x.mean(2))


model = Net()
input_shape = (4, 16)
