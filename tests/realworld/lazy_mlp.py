# Shapes inferred at the first call: LazyLinear / LazyConv2d everywhere.
import torch.nn as nn

model = nn.Sequential(nn.LazyConv2d(16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                      nn.LazyLinear(64), nn.ReLU(), nn.LazyLinear(10))
input_shape = (1, 3, 32, 32)
