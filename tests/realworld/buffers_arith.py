# Positional tables kept as buffers and combined in forward (relative-position style).
import torch
import torch.nn as nn


class RelPos(nn.Module):
    def __init__(self, n=16, d=32):
        super().__init__()
        self.register_buffer("table", torch.randn(n, d))
        self.register_buffer("proj", torch.randn(d, d))
        self.qkv = nn.Linear(d, d)

    def forward(self, x):
        bias = self.table @ self.proj          # buffers only
        return self.qkv(x) @ bias.t()


model = RelPos()
input_shape = (2, 8, 32)
