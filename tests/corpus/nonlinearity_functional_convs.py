"""F.conv2d → F.batch_norm → F.conv2d with the activation forgotten between the two 3×3 convolutions."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"missing-nonlinearity"}
COUNT = {"missing-nonlinearity": 1}


class ForgotReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(32, 3, 3, 3) * 0.1)
        self.w2 = nn.Parameter(torch.randn(32, 32, 3, 3) * 0.1)
        self.register_buffer("mean", torch.zeros(32))
        self.register_buffer("var", torch.ones(32))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = F.conv2d(x, self.w1, padding=1)
        x = F.batch_norm(x, self.mean, self.var, training=False)
        x = F.relu(F.conv2d(x, self.w2, padding=1))
        return self.head(x.mean((2, 3)))


model = ForgotReLU()
input_shape = (2, 3, 16, 16)
