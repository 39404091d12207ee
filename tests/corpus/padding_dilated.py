"""A dilated 3×3 convolution (d=2: a 5×5 window) with no padding, in a 1-D and a 2-D branch."""
import torch
import torch.nn as nn

EXPECT = {"missing-padding"}
COUNT = {"missing-padding": 1}


class DilatedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(3, 16, 3, dilation=2, padding=1)  # padding 1 < 2: partial, not flagged
        self.conv1d = nn.Conv1d(4, 16, 3, dilation=2)  # 64 -> 60
        self.head = nn.Linear(32, 5)

    def forward(self, image, signal):
        a = torch.relu(self.conv2d(image)).mean((2, 3))
        b = torch.relu(self.conv1d(signal)).mean(2)
        return self.head(torch.cat([a, b], dim=1))


model = DilatedNet()


def example_inputs():
    return (torch.randn(2, 3, 32, 32), torch.randn(2, 4, 64))
