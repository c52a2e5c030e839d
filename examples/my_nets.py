"""Your own models, for the command line: ``path/to/file.py:factory``.

    inception-cost layers examples/my_nets.py:build --depth 1
    inception-cost layers examples/my_nets.py:build --input 3x128x128 --engine fvcore
    inception-cost layers examples/my_nets.py:gated --device cpu   # reads values: not on meta
    inception-cost check --model examples/my_nets.py:build --baseline costs/ --update

A factory takes no arguments and returns an ``nn.Module``. An optional
``default_input_size`` attribute (C, H, W: three positive integers) is used when
``--input`` is not given; otherwise 3x224x224.
"""
import torch
import torch.nn as nn


class TinyInception(nn.Module):
    """Stem, one Inception-style module (1x1 | 1x1 -> 3x3 | 3x3 max pool -> 1x1),
    global average pool, classifier."""

    default_input_size = (3, 64, 64)

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.branch1 = nn.Conv2d(32, 16, 1)
        self.branch2 = nn.Sequential(nn.Conv2d(32, 16, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(16, 24, 3, padding=1))
        self.branch3 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(32, 8, 1))
        self.head = nn.Linear(16 + 24 + 8, classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)
        return self.head(x.relu().mean((2, 3)))


class GatedNet(TinyInception):
    """Skips its Inception module when the stem's output is all zeros: the forward
    reads a tensor's value, so it needs ``--device cpu`` (the meta device has none)."""

    def forward(self, x):
        x = self.stem(x)
        if x.abs().sum() > 0:
            x = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)
        else:
            x = x.new_zeros(x.shape[0], 48, *x.shape[2:])
        return self.head(x.relu().mean((2, 3)))


def build() -> nn.Module:
    return TinyInception()


def gated() -> nn.Module:
    return GatedNet()
