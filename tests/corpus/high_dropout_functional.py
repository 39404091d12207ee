"""F.dropout(x, p=0.7) written in forward."""
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"high-dropout"}
TRACERS = ("fx",)  # eval-mode F.dropout runs no op, so the hooks tracer cannot see it (documented)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(50, 128)
        self.fc2 = nn.Linear(128, 2)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return self.fc2(F.dropout(x, p=0.7, training=self.training))


model = Net()
input_shape = (4, 50)
