"""A GRU whose training loop (in this file) clips gradients, and a sigmoid output head."""
import torch
import torch.nn as nn

EXPECT = set()
CONTROLS = {"unclipped-rnn", "sigmoid-vanishing-gradient"}


class GRUTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(16, 32, batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return torch.sigmoid(self.head(out))


model = GRUTagger()
input_shape = (2, 10, 16)


def train_step(batch, target, optimizer):
    loss = nn.functional.binary_cross_entropy(model(batch), target)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
