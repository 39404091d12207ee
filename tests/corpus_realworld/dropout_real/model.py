"""A real positive: nn.Dropout(0.3) inside a VGG-style block, before the next BatchNorm (the shift
Li et al. 2019 measure); it must still fire, at the line that builds the dropout."""
import torch.nn as nn

EXPECT = {"dropout-before-batchnorm"}
SEVERITY = {"dropout-before-batchnorm": "warning"}
LINES = {"dropout-before-batchnorm": "nn.Dropout(0.3)"}


class VGGBlockNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Dropout(0.3),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Linear(32, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


model = VGGBlockNet()
input_shape = (2, 3, 16, 16)
