# Detection-style code: the batch is a namedtuple and forward reads its fields by name.
from collections import namedtuple

import torch
import torch.nn as nn

Batch = namedtuple("Batch", ["images", "valid"])


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.cls = nn.Conv2d(8, 4, 1)

    def forward(self, batch):
        x = torch.relu(self.conv(batch.images))
        return self.cls(x) * batch.valid[:, None, None, None]


model = Head()


def example_inputs():
    return (Batch(torch.randn(2, 3, 16, 16), torch.ones(2)),)
