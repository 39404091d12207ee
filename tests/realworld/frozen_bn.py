# detectron-style: train() is overridden to keep BatchNorm frozen.
import torch.nn as nn


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def train(self, mode=True):
        super().train(mode)
        self.bn.eval()
        return self

    def forward(self, x):
        return self.bn(self.conv(x))


model = Backbone()
input_shape = (1, 3, 16, 16)
