"""Kim (2014) TextCNN: filters of heights 2, 3 and 4 spanning the full embedding width, max-pooled
over time. An even height over a 1-D token axis is a bigram/4-gram window, not a misaligned centre."""
import torch
import torch.nn as nn
import torch.nn.functional as F

CONTROLS = {"even-kernel"}


class TextCNN(nn.Module):
    def __init__(self, vocab: int = 2000, embed: int = 50, filters: int = 16, classes: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.convs = nn.ModuleList([nn.Conv2d(1, filters, (k, embed)) for k in (2, 3, 4)])
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(3 * filters, classes)

    def forward(self, tokens):
        x = self.embedding(tokens).unsqueeze(1)  # [N, 1, L, E]
        x = [F.relu(conv(x)).squeeze(3) for conv in self.convs]  # [N, filters, L - k + 1]
        x = [F.max_pool1d(i, i.size(2)).squeeze(2) for i in x]
        return self.fc(self.dropout(torch.cat(x, 1)))


model = TextCNN()


def example_inputs():
    return (torch.randint(0, 2000, (2, 40)),)
