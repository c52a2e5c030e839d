"""Small reusable blocks shared by every architecture family."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..errors import UsageError


def check_widths(where: str, **widths) -> None:
    """Raise UsageError naming the first non-positive (or non-integer) width."""
    for k, v in widths.items():
        vals = v if isinstance(v, (list, tuple)) else [v]
        for x in vals:
            if not isinstance(x, int) or isinstance(x, bool) or x <= 0:
                raise UsageError(f"{where}: width '{k}' must be a positive integer, got {x!r}")


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


class ConvBNReLU(nn.Module):
    """conv (no bias; ``bias=True`` as in Caffe ports) -> BatchNorm -> ReLU, the unit of
    every BN-era Inception.
    ``padding="same"`` pads k//2 on each side (odd kernels)."""

    def __init__(self, cin: int, cout: int, kernel=1, stride=1, padding=0, eps: float = 1e-3,
                 groups: int = 1, relu: bool = True, bias: bool = False):
        super().__init__()
        k = _pair(kernel)
        if padding == "same":
            padding = (k[0] // 2, k[1] // 2)
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias,
                              groups=groups)
        self.bn = nn.BatchNorm2d(cout, eps=eps)
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class ConvReLU(nn.Module):
    """conv (with bias) -> ReLU, as in the 2014 GoogLeNet and AlexNet/VGG."""

    def __init__(self, cin: int, cout: int, kernel=1, stride=1, padding=0, groups: int = 1):
        super().__init__()
        k = _pair(kernel)
        if padding == "same":
            padding = (k[0] // 2, k[1] // 2)
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, groups=groups)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))


class Concat(nn.Module):
    """Run parallel branches on the same input and concatenate on channels."""

    def __init__(self, branches: Sequence[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)


def out_channels(module: nn.Module) -> int:
    """Output channels of the last conv/linear/batch-norm inside ``module``."""
    last = None
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            last = m
    if last is None:
        raise ValueError("no conv/linear layer")
    return getattr(last, "out_channels", None) or getattr(last, "out_features", None) \
        or last.num_features
