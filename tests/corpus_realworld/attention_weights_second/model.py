"""A Bahdanau-style attention classifier returning (logits, attention weights): the weights are a
softmax over q·kᵀ scores, returned second for visualization; the logits come first."""
import torch
import torch.nn as nn

CONTROLS = {"softmax-output"}


class AttentionClassifier(nn.Module):
    def __init__(self, dim: int = 32, classes: int = 5) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(dim))
        self.proj = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, classes)

    def forward(self, x):  # x: [N, T, D]
        keys = torch.tanh(self.proj(x))
        scores = keys @ self.query
        weights = torch.softmax(scores, dim=1)
        context = (weights.unsqueeze(-1) * x).sum(1)
        return self.out(context), weights


model = AttentionClassifier()
input_shape = (2, 7, 32)
