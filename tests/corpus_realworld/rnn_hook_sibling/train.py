import torch

from grad_hooks import clamp_grad
from model import model

for parameter in model.parameters():
    parameter.register_hook(clamp_grad)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
