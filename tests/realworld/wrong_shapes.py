# A classifier head that does not match the feature size: broken, must not exit 0.
import torch.nn as nn

model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(100, 10))
input_shape = (1, 3, 32, 32)
