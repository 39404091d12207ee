"""Two F.linear calls with only F.dropout between (the hooks tracer sees them as addmm and mm)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"missing-nonlinearity"}
COUNT = {"missing-nonlinearity": 1}


class Projection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(48, 64) * 0.1)
        self.b1 = nn.Parameter(torch.zeros(48))
        self.w2 = nn.Parameter(torch.randn(32, 48) * 0.1)
        self.body = nn.Sequential(nn.Linear(64, 64), nn.ReLU())

    def forward(self, x):
        x = F.linear(self.body(x), self.w1, self.b1)
        return F.linear(F.dropout(x, 0.1, self.training), self.w2)


model = Projection()
input_shape = (4, 64)
