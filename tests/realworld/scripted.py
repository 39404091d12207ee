# Exported with TorchScript and loaded back.
import torch
import torch.nn as nn

model = torch.jit.script(nn.Sequential(nn.Linear(8, 8), nn.ReLU()))
input_shape = (2, 8)
