"""An LSTM language-model-style classifier, and nothing in this file clips gradients."""
import torch.nn as nn

EXPECT = {"unclipped-rnn"}


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(32, 64, num_layers=2, batch_first=True)
        self.head = nn.Linear(64, 5)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


model = LSTMClassifier()
input_shape = (2, 12, 32)
