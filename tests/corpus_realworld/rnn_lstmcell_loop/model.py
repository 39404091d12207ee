"""An image-captioning decoder: two LSTMCells (attention LSTM and language LSTM, as in
Bottom-Up Top-Down) stepped by hand over the caption; no clipping anywhere. The finding must count
2 recurrent modules, not one layer per step."""
import torch
import torch.nn as nn

EXPECT = {"unclipped-rnn"}
MESSAGE = {"unclipped-rnn": "2 recurrent module(s) 'attention_lstm' (LSTMCell, called 12 times), "
                            "'language_lstm' (LSTMCell, called 12 times)"}


class TopDownDecoder(nn.Module):
    def __init__(self, features: int = 32, hidden: int = 64, vocab: int = 100) -> None:
        super().__init__()
        self.hidden = hidden
        self.attention_lstm = nn.LSTMCell(features + hidden, hidden)
        self.language_lstm = nn.LSTMCell(features + hidden, hidden)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, image_features):
        batch = image_features.shape[0]
        h1 = c1 = h2 = c2 = image_features.new_zeros(batch, self.hidden)
        words = []
        for _ in range(12):
            h1, c1 = self.attention_lstm(torch.cat([image_features, h2], dim=1), (h1, c1))
            h2, c2 = self.language_lstm(torch.cat([image_features, h1], dim=1), (h2, c2))
            words.append(self.fc(h2))
        return torch.stack(words, dim=1)


model = TopDownDecoder()
input_shape = (2, 32)
