import torch
from torch.nn.utils import clip_grad_norm_ as clip

from model import model

optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
criterion = torch.nn.CrossEntropyLoss()

for step in range(1000):
    tokens = torch.randint(0, 64, (32, 101))
    logits = model(tokens[:, :-1])
    loss = criterion(logits.reshape(-1, 64), tokens[:, 1:].reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    clip(model.parameters(), 5.0)
    optimizer.step()
