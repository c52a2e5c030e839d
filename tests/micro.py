"""Small helpers shared by the op-level tests."""
from __future__ import annotations

import torch.nn as nn


class Fn(nn.Module):
    """Wrap a function of tensors as a module, so it can be counted like a model."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)
