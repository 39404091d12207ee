"""A small Transformer encoder classifier: LayerNorm, GELU, dropout 0.1, attention softmax inside, logits out."""
import torch
import torch.nn as nn

EXPECT = set()
CONTROLS = {"sigmoid-vanishing-gradient", "dropout-before-batchnorm", "missing-nonlinearity", "softmax-output",
            "high-dropout", "bias-before-batchnorm", "unclipped-rnn"}


class TextClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(1000, 64)
        self.pos = nn.Parameter(torch.zeros(1, 16, 64))
        layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(64)
        self.head = nn.Linear(64, 4)

    def forward(self, tokens):
        x = self.encoder(self.embed(tokens) + self.pos)
        return self.head(self.norm(x.mean(1)))


model = TextClassifier()


def example_inputs():
    return torch.randint(0, 1000, (2, 16))
