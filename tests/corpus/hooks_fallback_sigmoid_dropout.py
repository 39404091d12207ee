"""Data-dependent control flow: torch.fx cannot trace it, the hooks tracer audits it, and the rules still fire."""
import torch
import torch.nn as nn

EXPECT = {"sigmoid-vanishing-gradient", "dropout-before-batchnorm"}
COUNT = {"sigmoid-vanishing-gradient": 1, "dropout-before-batchnorm": 1}
TRACERS = ("hooks",)


class BranchyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 32)
        self.act1, self.act2, self.act3 = nn.Sigmoid(), nn.Tanh(), nn.Sigmoid()
        self.drop = nn.Dropout(0.25)
        self.fc4 = nn.Linear(32, 32, bias=False)
        self.bn = nn.BatchNorm1d(32)
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent: symbolic tracing fails here
            x = -x
        x = self.act3(self.fc3(self.act2(self.fc2(self.act1(self.fc1(x))))))
        x = torch.relu(self.bn(self.fc4(self.drop(x))))
        return self.head(x)


model = BranchyNet()
input_shape = (4, 16)
