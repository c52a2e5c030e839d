"""The two Inception modules of GoogLeNet (Szegedy et al. 2014, Fig. 2).

* ``InceptionNaive`` (Fig. 2a): 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by
  side, concatenated on channels; the pool passes its input channels through, so the
  output depth only grows.
* ``InceptionReduced`` (Fig. 2b): 1x1 reductions before the 3x3 and 5x5 convolutions and a
  1x1 projection after the pool.  Its widths are one row of GoogLeNet's Table 1, held as an
  ``InceptionSpec``.

Every branch keeps the spatial size (stride 1, "same" padding).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from .blocks import ConvBNReLU, ConvReLU, check_widths
from .registry import register_variant


class InceptionSpec(NamedTuple):
    """One row of GoogLeNet's Table 1: output channels per branch (columns in table order)."""

    n1x1: int
    n3x3red: int
    n3x3: int
    n5x5red: int
    n5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        """Depth of the concatenated output: #1x1 + #3x3 + #5x5 + pool proj."""
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj


class _Branches(nn.Module):
    """Runs the children ``branch1`` ... ``branch4`` on one input and concatenates them."""

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionNaive(_Branches):
    """Fig. 2a: 1x1 | 3x3 pad 1 | 5x5 pad 2 | 3x3/1 max pool pad 1, concatenated.

    Output channels: n1x1 + n3x3 + n5x5 + in_channels (the pool passes its input through).
    """

    def __init__(self, in_channels: int, n1x1: int, n3x3: int, n5x5: int,
                 conv: Callable[..., nn.Module] = ConvReLU):
        super().__init__()
        check_widths("InceptionNaive", in_channels=in_channels, n1x1=n1x1, n3x3=n3x3, n5x5=n5x5)
        self.in_channels = in_channels
        self.out_channels = n1x1 + n3x3 + n5x5 + in_channels
        self.branch1 = conv(in_channels, n1x1, 1)
        self.branch2 = conv(in_channels, n3x3, 3, 1, 1)
        self.branch3 = conv(in_channels, n5x5, 5, 1, 2)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)


class InceptionReduced(_Branches):
    """Fig. 2b: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3/1 max pool -> 1x1 projection.

    ``five=3`` puts a 3x3 in the "5x5" branch (torchvision's GoogLeNet); ``pool_ceil``
    sets the branch pool's ceil_mode (no effect on sizes at stride 1).
    """

    def __init__(self, in_channels: int, spec: InceptionSpec,
                 conv: Callable[..., nn.Module] = ConvReLU, five: int = 5,
                 pool_ceil: bool = False):
        super().__init__()
        spec = InceptionSpec(*spec)
        check_widths("InceptionReduced", in_channels=in_channels, **spec._asdict())
        if five not in (3, 5):
            raise ValueError(f"five must be 3 or 5, got {five!r}")
        self.spec = spec
        self.in_channels = in_channels
        self.out_channels = spec.out_channels
        self.branch1 = conv(in_channels, spec.n1x1, 1)
        self.branch2 = nn.Sequential(conv(in_channels, spec.n3x3red, 1),
                                     conv(spec.n3x3red, spec.n3x3, 3, 1, 1))
        self.branch3 = nn.Sequential(conv(in_channels, spec.n5x5red, 1),
                                     conv(spec.n5x5red, spec.n5x5, five, 1, five // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=pool_ceil),
                                     conv(in_channels, spec.pool_proj, 1))


def _conv_for(bn: bool) -> Callable[..., nn.Module]:
    if not isinstance(bn, bool):
        raise ValueError(f"bn must be true or false, got {bn!r}")
    return ConvBNReLU if bn else ConvReLU


# Defaults: the example module of the CS231n lecture on CNN architectures (input 28x28x256).
@register_variant("inception_naive", kind="module", input_size=(256, 28, 28),
                  description="GoogLeNet Fig. 2a naive Inception module: 1x1, 3x3, 5x5 convs + "
                              "3x3 max pool, concatenated",
                  source="paper: Szegedy et al. 2014, Going Deeper with Convolutions, Fig. 2a")
def build_inception_naive(in_channels: int = 256, n1x1: int = 128, n3x3: int = 192,
                          n5x5: int = 96, bn: bool = False) -> nn.Module:
    """Output depth n1x1 + n3x3 + n5x5 + in_channels (672 with the defaults)."""
    check_widths("inception_naive", in_channels=in_channels, n1x1=n1x1, n3x3=n3x3, n5x5=n5x5)
    return InceptionNaive(in_channels, n1x1, n3x3, n5x5, conv=_conv_for(bn))


@register_variant("inception_reduced", kind="module", input_size=(256, 28, 28),
                  description="GoogLeNet Fig. 2b Inception module with 1x1 reductions and pool "
                              "projection",
                  source="paper: Szegedy et al. 2014, Going Deeper with Convolutions, Fig. 2b")
def build_inception_reduced(in_channels: int = 256, n1x1: int = 128, n3x3red: int = 64,
                            n3x3: int = 192, n5x5red: int = 64, n5x5: int = 96,
                            pool_proj: int = 64, bn: bool = False) -> nn.Module:
    """Output depth n1x1 + n3x3 + n5x5 + pool_proj (480 with the defaults)."""
    spec = InceptionSpec(n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj)
    check_widths("inception_reduced", in_channels=in_channels, **spec._asdict())
    return InceptionReduced(in_channels, spec, conv=_conv_for(bn))
