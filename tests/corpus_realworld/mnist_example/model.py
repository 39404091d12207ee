"""pytorch/examples mnist/main.py: two unpadded 3×3 convolutions (28×28 → 24×24, 26% of the area):
info by design, with a fix written for the layer itself."""
import torch.nn as nn
import torch.nn.functional as F
import torch

EXPECT = {"missing-padding"}
SEVERITY = {"missing-padding": "info"}
FIX = {"missing-padding": "nn.Conv2d(32, 64, kernel_size=3, padding=1)"}
LINES = {"missing-padding": "nn.Conv2d("}


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


model = Net()
input_shape = (2, 1, 28, 28)
