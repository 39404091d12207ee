"""A char-level LSTM language model; train.py clips through an aliased import
(``from torch.nn.utils import clip_grad_norm_ as clip``)."""
import torch.nn as nn

CONTROLS = {"unclipped-rnn"}


class CharLSTM(nn.Module):
    def __init__(self, vocab: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 32)
        self.lstm = nn.LSTM(32, hidden, num_layers=2, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.decoder(out)


model = CharLSTM()


def example_inputs():
    import torch

    return (torch.randint(0, 64, (2, 20)),)
