"""A physics-informed network for Burgers' equation (Raissi et al. 2019): 8 tanh layers of 20 units,
differentiated twice by autograd in the residual. ReLU would make u_xx zero; tanh is required."""
import torch
import torch.nn as nn

EXPECT = {"sigmoid-vanishing-gradient"}
SEVERITY = {"sigmoid-vanishing-gradient": "info"}
NOT_IN_FIX = {"sigmoid-vanishing-gradient": "ReLU/GELU in hidden layers"}


class PINN(nn.Module):
    def __init__(self, width: int = 20, depth: int = 8) -> None:
        super().__init__()
        layers = [nn.Linear(2, width), nn.Tanh()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.Tanh()]
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, xt):
        return self.net(xt)


model = PINN()
input_shape = (16, 2)


def residual(x, t, nu=0.01 / torch.pi):
    u = model(torch.cat([x, t], dim=1))
    u_t = torch.autograd.grad(u.sum(), t, create_graph=True)[0]
    u_x = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    u_xx = torch.autograd.grad(u_x.sum(), x, create_graph=True)[0]
    return u_t + u * u_x - nu * u_xx
