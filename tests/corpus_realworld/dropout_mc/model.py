"""Monte-Carlo dropout for uncertainty (Gal & Ghahramani): dropout stays on at inference —
``F.dropout(x, p)`` without ``training=`` (it defaults to True) and an ``MCDropout`` module that always
samples — so training and inference see the same variance and the BatchNorm after it is not shifted."""
import torch.nn as nn
import torch.nn.functional as F

CONTROLS = {"dropout-before-batchnorm"}


class MCDropout(nn.Dropout):
    def forward(self, x):
        return F.dropout(x, self.p, training=True)


class BayesianConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.drop = MCDropout(0.25)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.dropout(x, 0.2)
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.drop(x)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(x.mean((2, 3)))


model = BayesianConvNet()
input_shape = (2, 3, 16, 16)
