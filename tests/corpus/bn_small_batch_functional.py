"""F.batch_norm(training=True) on a 2×1×1 map per channel after global pooling (2 values per channel)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"batchnorm-small-batch"}
MODE = "train"


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.register_buffer("mean", torch.zeros(16))
        self.register_buffer("var", torch.ones(16))
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        x = F.batch_norm(x, self.mean, self.var, training=self.training)
        return self.head(x.flatten(1))


model = Net()
input_shape = (2, 3, 8, 8)
