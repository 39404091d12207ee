"""An LSTM speech-command classifier trained with Accelerate; the clipping call
``accelerator.clip_grad_norm_`` lives in engine.py's ``backward_step``."""
import torch.nn as nn

CONTROLS = {"unclipped-rnn"}


class SpeechLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(40, 128, num_layers=2, batch_first=True, dropout=0.1)
        self.fc = nn.Linear(128, 35)

    def forward(self, mfcc):
        out, _ = self.lstm(mfcc)
        return self.fc(out.mean(1))


model = SpeechLSTM()
input_shape = (2, 50, 40)
