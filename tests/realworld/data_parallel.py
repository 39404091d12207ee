# Saved from a multi-GPU training script: the model is still wrapped.
import torch.nn as nn

model = nn.DataParallel(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3)))
input_shape = (1, 3, 32, 32)
