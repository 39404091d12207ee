"""Large kernels that are deliberate: a 7×7/2 stem on 3 channels and ConvNeXt-style 7×7 depthwise convolutions."""
import torch
import torch.nn as nn

EXPECT = set()
CONTROLS = {"large-kernel"}


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.pw2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(torch.nn.functional.gelu(self.pw1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


model = nn.Sequential(
    nn.Conv2d(3, 32, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
    ConvNeXtBlock(32), ConvNeXtBlock(32),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
)
input_shape = (2, 3, 32, 32)
