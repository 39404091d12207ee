"""Biases that are not cancelled: before LayerNorm/GroupNorm, a BatchNorm on another axis, a residual use."""
import torch
import torch.nn as nn

EXPECT = set()
CONTROLS = {"bias-before-batchnorm"}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_gn = nn.Conv2d(3, 16, 3, padding=1)
        self.gn = nn.GroupNorm(4, 16)
        self.conv_res = nn.Conv2d(16, 16, 3, padding=1)
        self.bn_res = nn.BatchNorm2d(16)
        self.embed = nn.Linear(16, 24)
        self.ln = nn.LayerNorm(24)
        self.seq_bn = nn.BatchNorm1d(16)  # normalizes over the 16 tokens, not the 24 features
        self.head = nn.Linear(24, 5)

    def forward(self, x):
        x = torch.relu(self.gn(self.conv_gn(x)))
        y = self.conv_res(x)
        x = torch.relu(self.bn_res(y) + y)  # the biased output is also used unnormalized
        tokens = x.flatten(2)[:, :, :16].transpose(1, 2)  # [N, 16 tokens, 16 channels]
        t = self.embed(tokens)  # [N, 16, 24]
        t = torch.relu(self.ln(t)) + torch.relu(self.seq_bn(self.embed(tokens)))
        return self.head(t.mean(1))


model = Net()
input_shape = (2, 3, 8, 8)
