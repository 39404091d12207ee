"""A LightningModule wrapping an LSTM forecaster; train.py builds its Trainer through
``trainer_factory.make_trainer(cfg)``, which passes ``gradient_clip_val``."""
import torch
import torch.nn as nn

CONTROLS = {"unclipped-rnn"}


class Forecaster(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 64, batch_first=True)
        self.head = nn.Linear(64, 1)

    def forward(self, series):
        out, _ = self.lstm(series)
        return self.head(out[:, -1])


model = Forecaster()
input_shape = (4, 48, 8)
