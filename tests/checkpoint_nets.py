"""A small Inception-style network for the checkpointing tests: a stem, six blocks of
different widths (two Inception-style branch blocks, two residual blocks, two plain
conv blocks), dropout and a classifier; 32x32 inputs, a few milliseconds per step."""
from __future__ import annotations

import torch
import torch.nn as nn


def conv(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Branches(nn.Module):
    def __init__(self, cin, a, b):
        super().__init__()
        self.b1 = conv(cin, a, 1)
        self.b2 = nn.Sequential(conv(cin, b, 1), conv(b, b, 3))
        self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.pool(x)], 1)


class Residual(nn.Module):
    def __init__(self, c, mid):
        super().__init__()
        self.body = nn.Sequential(conv(c, mid, 1), conv(mid, c, 3))

    def forward(self, x):
        return torch.relu(x + self.body(x))


class TinyNet(nn.Module):
    """Candidates (blocks a user would wrap): stem, block1..block6."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = conv(3, 16)
        self.block1 = Branches(16, 8, 12)            # -> 36 channels
        self.block2 = Residual(36, 20)
        self.down = nn.MaxPool2d(2)
        self.block3 = Branches(36, 16, 24)           # -> 76
        self.block4 = Residual(76, 28)
        self.block5 = conv(76, 96)
        self.block6 = nn.Sequential(nn.Conv2d(96, 64, 1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        x = self.block4(self.block3(self.down(x)))
        x = self.block6(self.block5(x))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


BLOCKS = ["stem", "block1", "block2", "block3", "block4", "block5", "block6"]
# the brute force over TinyNet's five middle blocks (tests/conftest.py's tinynet_subsets)
TINY_BATCH, TINY_CHW = 8, (3, 32, 32)
TINY_CANDS = ["block1", "block2", "block3", "block4", "block5"]


class FitNet(nn.Module):
    """A smaller network for the whole-batch searches (``memory --fit --checkpoint auto``):
    four candidates (stem, block1, block2, block3), 16x16 inputs."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = conv(3, 16)
        self.block1 = Branches(16, 8, 12)            # -> 36 channels
        self.block2 = Residual(36, 20)
        self.block3 = conv(36, 48)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(48, classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


FIT_BLOCKS = ["stem", "block1", "block2", "block3"]
