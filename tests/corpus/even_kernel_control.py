"""Even kernels that are fine: patchify (k == stride) and a ConvTranspose2d(k=4, s=2, p=1) upsampler."""
import torch.nn as nn

EXPECT = set()
CONTROLS = {"even-kernel"}

model = nn.Sequential(
    nn.Conv2d(3, 32, 2, stride=2), nn.ReLU(),
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
    nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
    nn.Conv2d(16, 3, 3, padding=1),
)
input_shape = (1, 3, 16, 16)
