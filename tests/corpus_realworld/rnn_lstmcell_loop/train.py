import torch

from model import model

optimizer = torch.optim.Adam(model.parameters(), lr=4e-4)
for features, captions in []:
    loss = torch.nn.functional.cross_entropy(model(features).flatten(0, 1), captions.flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
