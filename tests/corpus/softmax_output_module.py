"""A classifier that ends in nn.Softmax: CrossEntropyLoss would apply log-softmax a second time."""
import torch.nn as nn

EXPECT = {"softmax-output"}

model = nn.Sequential(
    nn.Linear(20, 64), nn.ReLU(),
    nn.Linear(64, 5), nn.Softmax(dim=1),
)
input_shape = (4, 20)
