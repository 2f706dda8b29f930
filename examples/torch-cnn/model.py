"""The CNN of issue 15 (Fashion-MNIST, 1x28x28 -> 10 classes):
Conv2d 1->16 k5, ReLU, max-pool, Conv2d 16->32 k5, ReLU, max-pool,
Linear 512->64 (fc1, the penultimate layer), ReLU, Linear 64->10 (fc2).
The widths are arguments so that the tests and the dense-GGN experiment
can use a tiny one (python3 -m fastif_torch --model-args '{"c1": 2, ...}')."""

from torch import nn


class CNN(nn.Module):
    def __init__(self, c1=16, c2=32, hidden=64, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(c2 * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        h = self.pool(self.relu(self.conv1(x)))
        h = self.pool(self.relu(self.conv2(h)))
        return self.fc2(self.relu(self.fc1(h.flatten(1))))
