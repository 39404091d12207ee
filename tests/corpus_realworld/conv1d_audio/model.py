"""A keyword-spotting 1-D CNN over 64 MFCC frames with unpadded k=5 convolutions (64 → 48 frames):
the fix must be a Conv1d with kernel_size=5 and padding=2, not the 3×3 Conv2d template."""
import torch.nn as nn

EXPECT = {"missing-padding"}
FIX = {"missing-padding": "nn.Conv1d(40, 64, kernel_size=5, padding=2)"}
LINES = {"missing-padding": "nn.Conv1d("}

model = nn.Sequential(
    nn.Conv1d(40, 64, 5), nn.BatchNorm1d(64), nn.ReLU(),
    nn.Conv1d(64, 64, 5), nn.BatchNorm1d(64), nn.ReLU(),
    nn.Conv1d(64, 64, 5), nn.BatchNorm1d(64), nn.ReLU(),
    nn.Conv1d(64, 64, 5), nn.BatchNorm1d(64), nn.ReLU(),
    nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 12),
)
input_shape = (2, 40, 64)
