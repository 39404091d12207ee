# A training-repo model file: banner at import, print(model), shapes printed in forward.
import torch.nn as nn

print("=" * 20, "SuperNet v2", "=" * 20)


class SuperNet(nn.Module):
    def __init__(self):
        super(SuperNet, self).__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.fc = nn.Linear(16 * 16 * 16, 10)

    def forward(self, x):
        print("input:", x.shape)
        x = self.features(x)
        print("features:", x.shape)
        return self.fc(x.view(x.size(0), -1))


model = SuperNet()
print(model)
input_shape = (2, 3, 32, 32)
