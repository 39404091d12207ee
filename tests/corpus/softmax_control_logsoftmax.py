"""log_softmax output (what NLLLoss expects) and softmax inside attention: neither is flagged."""
import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = set()
CONTROLS = {"softmax-output"}


class AttentionPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(16, 1)
        self.embed = nn.Linear(8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):  # [N, T, 8]
        h = torch.relu(self.embed(x))
        weights = F.softmax(self.score(h), dim=1)
        pooled = (weights * h).sum(1)
        return F.log_softmax(self.head(pooled), dim=-1)


model = AttentionPool()
input_shape = (2, 6, 8)
