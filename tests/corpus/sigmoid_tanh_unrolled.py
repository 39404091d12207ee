"""A hand-unrolled vanilla RNN: the same tanh cell applied four times (no nn.RNN, so no clipping rule)."""
import torch
import torch.nn as nn

EXPECT = {"sigmoid-vanishing-gradient"}
COUNT = {"sigmoid-vanishing-gradient": 1}
CONTROLS = {"unclipped-rnn"}


class UnrolledTanhRNN(nn.Module):
    def __init__(self, features: int = 16, hidden: int = 32) -> None:
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.rec = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):  # x: [batch, 4 steps, features]
        h = torch.tanh(self.inp(x[:, 0]))
        h = torch.tanh(self.rec(h) + self.inp(x[:, 1]))
        h = torch.tanh(self.rec(h) + self.inp(x[:, 2]))
        h = torch.tanh(self.rec(h) + self.inp(x[:, 3]))
        return self.head(h)


model = UnrolledTanhRNN()
input_shape = (2, 4, 16)
