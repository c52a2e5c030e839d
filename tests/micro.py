"""Small helpers shared by the tests: the CLI runner and op-level model wrappers."""
from __future__ import annotations

import torch.nn as nn

from inception_cost.cli import main


def run(args, capsys):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


class Fn(nn.Module):
    """Wrap a function of tensors as a module, so it can be counted like a model."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


# fvcore's attribution fixtures (its tests' SharedModuleNet and NonForwardNet), rebuilt:
# a Linear shared by two parents and a Linear registered under two names; a submodule
# whose work runs through a method other than forward.
class SharedInner(nn.Module):
    def __init__(self, submod):
        super().__init__()
        self.submod = submod

    def forward(self, x):
        return self.submod(x)


class SharedModuleNet(nn.Module):
    def __init__(self):
        super().__init__()
        inner = nn.Linear(10, 10)
        self.submod1, self.submod2 = SharedInner(inner), SharedInner(inner)
        multiname = nn.Linear(10, 1)
        self.multiname1, self.multiname2 = multiname, multiname

    def forward(self, x):
        x = self.submod1(x) + self.submod2(x)
        return self.multiname1(x) + self.multiname2(x)


class NonForwardInner(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 1)

    def forward(self, x):
        return x

    def other_func(self, x):
        return self.fc(x)


class NonForwardNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.submod = NonForwardInner()
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        return self.submod.other_func(self.fc(x))
