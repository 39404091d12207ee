"""A GRU token classifier trained with transformers' Trainer, which clips at
TrainingArguments.max_grad_norm = 1.0 unless told otherwise."""
import torch
import torch.nn as nn

CONTROLS = {"unclipped-rnn"}


class GRUTokenClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30522, 128)
        self.gru = nn.GRU(128, 128, num_layers=2, batch_first=True)
        self.classifier = nn.Linear(128, 9)

    def forward(self, input_ids):
        hidden, _ = self.gru(self.embed(input_ids))
        return self.classifier(hidden)


model = GRUTokenClassifier()


def example_inputs():
    return (torch.randint(0, 30522, (2, 16)),)
