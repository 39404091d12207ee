"""A bidirectional GRU sentiment classifier (Show-Attend-Tell-style repo layout): train.py calls
``clip_gradient(optimizer, grad_clip)`` from the sibling utils.py, which clamps every ``p.grad``."""
import torch
import torch.nn as nn

CONTROLS = {"unclipped-rnn"}


class SentimentGRU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(5000, 100)
        self.rnn = nn.GRU(100, 64, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(128, 2)

    def forward(self, text):
        output, hidden = self.rnn(self.embedding(text))
        return self.fc(torch.cat([hidden[-2], hidden[-1]], dim=1))


model = SentimentGRU()


def example_inputs():
    return (torch.randint(0, 5000, (4, 30)),)
