"""Sigmoid MLP that re-normalizes before every activation, plus a tanh stack bypassed by residuals."""
import torch
import torch.nn as nn

EXPECT = set()
CONTROLS = {"sigmoid-vanishing-gradient"}


class ResidualTanh(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + torch.tanh(self.fc(x))


class NormalizedSigmoidNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers = []
        for _ in range(5):
            layers += [nn.Linear(64, 64), nn.LayerNorm(64), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.residual = nn.Sequential(*[ResidualTanh(64) for _ in range(6)])
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.residual(self.body(x)))


model = NormalizedSigmoidNet()
input_shape = (4, 64)
