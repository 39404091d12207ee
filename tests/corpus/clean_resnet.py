"""The README's small residual CNN: padded 3×3 convolutions, BatchNorm, ReLU, residual adds. Nothing to report."""
import torch.nn as nn

EXPECT = set()
CONTROLS = {"sigmoid-vanishing-gradient", "missing-padding", "dropout-before-batchnorm", "missing-nonlinearity",
            "softmax-output", "even-kernel", "large-kernel", "high-dropout", "feature-map-collapse", "unclipped-rnn"}


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class SmallResNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.stage1 = nn.Sequential(Block(32), Block(32))
        self.down = nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.stage2 = nn.Sequential(Block(64), Block(64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))


model = SmallResNet()
input_shape = (1, 3, 32, 32)
