import torch
import torch.nn.functional as F

from model import model
from utils import AverageMeter, clip_gradient

grad_clip = 5.0
optimizer = torch.optim.Adam(model.parameters())


def train_epoch(loader):
    losses = AverageMeter()
    for text, label in loader:
        loss = F.cross_entropy(model(text), label)
        optimizer.zero_grad()
        loss.backward()
        if grad_clip is not None:
            clip_gradient(optimizer, grad_clip)
        optimizer.step()
        losses.update(loss.item(), text.size(0))
