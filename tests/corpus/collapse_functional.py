"""F.max_pool2d until the map is 1×1, then a 3×3 convolution on it and a global mean."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"feature-map-collapse"}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        for _ in range(3):
            x = F.max_pool2d(x, 2)
        x = F.relu(self.conv2(x))
        return self.head(torch.mean(x, dim=(2, 3)))


model = Net()
input_shape = (2, 3, 8, 8)
