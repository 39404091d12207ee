"""Six unpadded F.conv2d calls on a 16×16 input: 16 → 4, 94% of the area gone (error)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"missing-padding"}
SEVERITY = {"missing-padding": "error"}
COUNT = {"missing-padding": 6}


class ShrinkingNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(8, 8 if i else 1, 3, 3) * 0.1) for i in range(6))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        for weight in self.weights:
            x = F.relu(F.conv2d(x, weight))
        return self.head(x.mean((2, 3)))


model = ShrinkingNet()
input_shape = (2, 1, 16, 16)
