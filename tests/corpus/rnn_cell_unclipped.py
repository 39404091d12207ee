"""A GRUCell stepped by hand over the sequence: recurrent all the same, and unclipped."""
import torch
import torch.nn as nn

EXPECT = {"unclipped-rnn"}


class CellLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.GRUCell(8, 16)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        h = x.new_zeros((x.shape[0], 16))
        for t in range(4):
            h = self.cell(x[:, t], h)
        return self.head(h)


model = CellLoop()
input_shape = (3, 4, 8)
