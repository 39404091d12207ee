# A language model whose example batch holds an id past the vocabulary.
import torch
import torch.nn as nn


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(1000, 32)
        self.head = nn.Linear(32, 1000)

    def forward(self, ids):
        return self.head(self.embed(ids))


model = TinyLM()


def example_inputs():
    return (torch.tensor([[1, 5, 999, 1000]]),)
