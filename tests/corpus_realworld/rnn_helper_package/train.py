import torch
import torch.nn.functional as F

from helpers.optim import apply_update as update
from model import model

optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for src, tgt in []:
    loss = F.cross_entropy(model(src).flatten(0, 1), tgt.flatten())
    update(model, optimizer, loss)
