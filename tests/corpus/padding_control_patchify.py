"""Patchify stem (kernel == stride), 1×1 convolutions, padding='same' and a padded strided conv: no border lost."""
import torch.nn as nn

EXPECT = set()
CONTROLS = {"missing-padding", "even-kernel"}

model = nn.Sequential(
    nn.Conv2d(3, 32, 4, stride=4),  # ViT/ConvNeXt-style patchify: windows do not overlap
    nn.GELU(),
    nn.Conv2d(32, 64, 1), nn.ReLU(),
    nn.Conv2d(64, 64, 3, padding="same"), nn.ReLU(),
    nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
)
input_shape = (2, 3, 64, 64)
