"""A seq2seq encoder (nn.LSTM); train.py calls ``helpers.optim.apply_update``, which calls the
relatively imported ``.grads.clip_by_global_norm``, which rescales the gradients by their norm
(hand-written norm clipping, two modules deep)."""
import torch
import torch.nn as nn

CONTROLS = {"unclipped-rnn"}


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(1000, 64)
        self.lstm = nn.LSTM(64, 64, batch_first=True)
        self.out = nn.Linear(64, 1000)

    def forward(self, src):
        outputs, _ = self.lstm(self.embedding(src))
        return self.out(outputs)


model = Encoder()


def example_inputs():
    return (torch.randint(0, 1000, (2, 12)),)
