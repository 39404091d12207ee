"""PyTorch's REINFORCE example: the policy returns action probabilities that feed
``torch.distributions.Categorical``; there is no cross-entropy loss, the softmax is the point."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Categorical

EXPECT = {"high-dropout"}  # the example's Dropout(p=0.6) is above high-dropout's 0.5, as documented
CONTROLS = {"softmax-output"}


class Policy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)

    def forward(self, x):
        x = F.relu(self.dropout(self.affine1(x)))
        return F.softmax(self.affine2(x), dim=1)


model = Policy()
input_shape = (1, 4)


def select_action(state):
    probs = model(torch.from_numpy(state).float().unsqueeze(0))
    m = Categorical(probs)
    action = m.sample()
    return action.item(), m.log_prob(action)
