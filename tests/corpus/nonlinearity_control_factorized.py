"""MobileNetV2 linear bottlenecks, depthwise→pointwise, 1×7→7×1, a low-rank autoencoder and attention's q/k/v."""
import torch
import torch.nn as nn

EXPECT = set()
CONTROLS = {"missing-nonlinearity"}


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int = 6) -> None:
        super().__init__()
        hidden = c_in * expand
        self.use_res = stride == 1 and c_in == c_out
        self.block = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out),  # linear bottleneck: no activation
        )

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class SelfAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        weights = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) / x.shape[-1] ** 0.5, dim=-1)
        return self.out(weights @ self.v(x))


class FactorizedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(16, 24, 2), InvertedResidual(24, 24, 1),
                                    InvertedResidual(24, 32, 2))
        self.separable = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), nn.BatchNorm2d(32),
                                       nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.asym = nn.Sequential(nn.Conv2d(64, 64, (1, 7), padding=(0, 3), bias=False),
                                  nn.Conv2d(64, 64, (7, 1), padding=(3, 0), bias=False), nn.ReLU())
        self.attention = SelfAttention(64)
        self.encode = nn.Linear(64, 8)
        self.decode = nn.Linear(8, 64)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        x = self.asym(self.separable(self.blocks(self.stem(x))))
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.attention(tokens)
        x = torch.relu(self.decode(self.encode(tokens.mean(1))))  # rank-8 bottleneck on purpose
        return self.head(x)


model = FactorizedNet()
input_shape = (2, 3, 64, 64)
