"""A vanilla RNN whose gradients are clamped by a hook registered on every parameter; the hook
function ``clamp_grad`` is imported from the sibling grad_hooks.py."""
import torch.nn as nn

CONTROLS = {"unclipped-rnn"}


class ElmanNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(16, 32, batch_first=True)
        self.out = nn.Linear(32, 4)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.out(h[:, -1])


model = ElmanNet()
input_shape = (2, 10, 16)
