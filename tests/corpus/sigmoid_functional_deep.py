"""Six saturating activations written as functions and tensor methods: an error-level chain."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"sigmoid-vanishing-gradient"}
SEVERITY = {"sigmoid-vanishing-gradient": "error"}
COUNT = {"sigmoid-vanishing-gradient": 1}


class DeepSigmoidNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(32, 32) for _ in range(6))
        self.out = nn.Linear(32, 4)

    def forward(self, x):
        x = torch.sigmoid(self.layers[0](x))
        x = self.layers[1](x).tanh()
        x = F.hardsigmoid(self.layers[2](x))
        x = self.layers[3](x).sigmoid()
        x = torch.tanh(self.layers[4](x))
        x = torch.sigmoid(self.layers[5](x))
        return self.out(x)


model = DeepSigmoidNet()
input_shape = (8, 32)
