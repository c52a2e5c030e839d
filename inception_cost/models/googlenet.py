"""GoogLeNet (Szegedy et al. 2014) from its Table 1, in two layouts.

``googlenet`` is the paper's network: Table 1 with true 5x5 convolutions, convs with bias +
ReLU, the two LocalResponseNorm layers of Fig. 3 (size 5, alpha 1e-4, beta 0.75, k 1: the
usual Caffe values; PyTorch divides alpha by size as Caffe does), 3x3/2 max pools with
ceil_mode (112 -> 56 -> 28 -> 14 -> 7 as in Table 1), 7x7/1 average pool, 40% dropout and a
linear classifier.  ``stem="separable"`` makes conv1 a depthwise 7x7/2 with depth
multiplier 8 (3 -> 24 channels) plus a pointwise 1x1 (24 -> 64), which reproduces Table 1's
conv1 row (2.7K params, 34M ops).

``googlenet_torchvision`` is torchvision's layout built from the same rows: conv without
bias + BatchNorm (eps 1e-3) + ReLU, 3x3 in the "5x5" branch, 2x2/2 pool before 5a, no LRN,
adaptive average pool, 20% dropout.

With ``aux=True`` the two auxiliary heads (on 4a and 4d) run in every forward so that their
cost is counted, and the forward returns the tuple ``(logits, aux1_logits, aux2_logits)``;
without them it returns the logits.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from .blocks import ConvBNReLU, ConvReLU, check_widths
from .inception_modules import InceptionReduced, InceptionSpec
from .registry import register_variant

# Table 1, the nine inception rows: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_TABLE1: dict[str, InceptionSpec] = {
    "inception3a": InceptionSpec(64, 96, 128, 16, 32, 32),
    "inception3b": InceptionSpec(128, 128, 192, 32, 96, 64),
    "inception4a": InceptionSpec(192, 96, 208, 16, 48, 64),
    "inception4b": InceptionSpec(160, 112, 224, 24, 64, 64),
    "inception4c": InceptionSpec(128, 128, 256, 24, 64, 64),
    "inception4d": InceptionSpec(112, 144, 288, 32, 64, 64),
    "inception4e": InceptionSpec(256, 160, 320, 32, 128, 128),
    "inception5a": InceptionSpec(256, 160, 320, 32, 128, 128),
    "inception5b": InceptionSpec(384, 192, 384, 48, 128, 128),
}
# Table 1's stride-2 max pools between inception rows: name of the pool -> row it follows.
GOOGLENET_MAXPOOLS: dict[str, str] = {"pool3": "inception3b", "pool4": "inception4e"}
# Rows whose output feeds an auxiliary classifier (Sec. 5): head name -> row.
GOOGLENET_AUX_TAPS: dict[str, str] = {"aux1": "inception4a", "aux2": "inception4d"}

STEM_CHANNELS = 64        # conv1
CONV2_REDUCE = 64         # conv2's "#3x3 reduce"
CONV2_CHANNELS = 192      # conv2's "#3x3"
SEPARABLE_MULTIPLIER = 8  # depthwise conv1 of the "separable" stem: 3 -> 24 channels


class SeparableConv(nn.Module):
    """Depthwise kxk (``multiplier`` filters per input channel, no bias) then pointwise 1x1
    + ReLU: the "depthwise separable" conv1 described in the BN-Inception paper."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int,
                 multiplier: int, conv: Callable[..., nn.Module] = ConvReLU):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin * multiplier, kernel, stride=stride, padding=padding,
                                   groups=cin, bias=False)
        self.pointwise = conv(cin * multiplier, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def make_stem_conv1(stem: str, conv: Callable[..., nn.Module], in_channels: int = 3) -> nn.Module:
    """conv1 of Table 1 (7x7/2 pad 3, 64 channels): "standard" or "separable"."""
    if stem == "standard":
        return conv(in_channels, STEM_CHANNELS, 7, 2, 3)
    if stem == "separable":
        return SeparableConv(in_channels, STEM_CHANNELS, 7, 2, 3, SEPARABLE_MULTIPLIER, conv)
    raise ValueError(f"stem must be 'standard' or 'separable', got {stem!r}")


class AuxHead(nn.Module):
    """Auxiliary classifier: pool to 4x4, 1x1 conv 128, FC 1024 + ReLU, dropout, linear."""

    def __init__(self, in_channels: int, num_classes: int, pool: nn.Module,
                 conv: Callable[..., nn.Module], dropout: float = 0.7):
        super().__init__()
        self.pool = pool
        self.conv = conv(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """Table 1's network.  Children in forward order: conv1, pool1, lrn1, conv2_reduce,
    conv2, lrn2, pool2, inception3a ... inception5b (with pool3/pool4 between rows), avgpool,
    dropout, fc; then aux1/aux2 when built with aux heads.

    ``conv`` builds every conv unit (ConvReLU or ConvBNReLU), ``five`` is the kernel of the
    "5x5" branch, ``pool4_kernel`` the kernel of the pool before 5a, ``aux_pool`` a factory
    for the heads' pooling (None: no aux heads).
    """

    def __init__(self, num_classes: int, conv1: nn.Module, conv: Callable[..., nn.Module],
                 five: int, lrn: bool, pool4_kernel: int, avgpool: nn.Module, dropout: float,
                 aux_pool: Callable[[], nn.Module] | None = None,
                 pool_ceil_in_modules: bool = False):
        super().__init__()
        check_widths("googlenet", num_classes=num_classes)

        def maxpool(k=3):
            return nn.MaxPool2d(k, stride=2, ceil_mode=True)

        def norm():
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if lrn else nn.Identity()

        self.conv1 = conv1
        self.pool1 = maxpool()
        self.lrn1 = norm()
        self.conv2_reduce = conv(STEM_CHANNELS, CONV2_REDUCE, 1)
        self.conv2 = conv(CONV2_REDUCE, CONV2_CHANNELS, 3, 1, 1)
        self.lrn2 = norm()
        self.pool2 = maxpool()
        pools_after = {row: name for name, row in GOOGLENET_MAXPOOLS.items()}
        channels = CONV2_CHANNELS
        tap_channels = {}
        for name, spec in GOOGLENET_TABLE1.items():
            block = InceptionReduced(channels, spec, conv=conv, five=five,
                                     pool_ceil=pool_ceil_in_modules)
            self.add_module(name, block)
            channels = block.out_channels
            tap_channels[name] = channels
            if name in pools_after:
                k = pool4_kernel if pools_after[name] == "pool4" else 3
                self.add_module(pools_after[name], maxpool(k))
        self._trunk = list(self._modules)  # conv1 ... inception5b, in forward order
        self.avgpool = avgpool
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        self._taps: dict[str, str] = {}
        if aux_pool is not None:
            for head, row in GOOGLENET_AUX_TAPS.items():
                self.add_module(head, AuxHead(tap_channels[row], num_classes, aux_pool(), conv))
                self._taps[row] = head

    def forward(self, x):
        aux = []
        for name in self._trunk:
            x = getattr(self, name)(x)
            if name in self._taps:
                aux.append(getattr(self, self._taps[name])(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (x, *aux) if aux else x


def _check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


@register_variant("googlenet", input_size=(3, 224, 224),
                  description="GoogLeNet as in its paper: Table 1, true 5x5 convs, LRN, optional "
                              "aux heads and separable conv1",
                  source="paper: Szegedy et al. 2014, Going Deeper with Convolutions, Table 1 / "
                         "Fig. 3")
def build_googlenet(num_classes: int = 1000, aux: bool = False, stem: str = "standard",
                    lrn: bool = True) -> nn.Module:
    """Paper GoogLeNet; ``aux=True`` returns (logits, aux1, aux2) from forward."""
    check_widths("googlenet", num_classes=num_classes)
    _check_flag("aux", aux)
    _check_flag("lrn", lrn)
    return GoogLeNet(num_classes, make_stem_conv1(stem, ConvReLU), ConvReLU, five=5, lrn=lrn,
                     pool4_kernel=3, avgpool=nn.AvgPool2d(7, stride=1), dropout=0.4,
                     aux_pool=(lambda: nn.AvgPool2d(5, stride=3)) if aux else None)


@register_variant("googlenet_torchvision", input_size=(3, 224, 224),
                  description="GoogLeNet in torchvision's layout: BN, 3x3 in the 5x5 branch, no "
                              "LRN (6,624,904 params)",
                  source="reference: torchvision.models.googlenet",
                  reference="torchvision:googlenet")
def build_googlenet_torchvision(num_classes: int = 1000, aux: bool = False) -> nn.Module:
    """torchvision layout; ``aux=True`` adds its heads (4x4 adaptive pool) and returns
    (logits, aux1, aux2) from forward."""
    check_widths("googlenet_torchvision", num_classes=num_classes)
    _check_flag("aux", aux)
    return GoogLeNet(num_classes, make_stem_conv1("standard", ConvBNReLU), ConvBNReLU, five=3,
                     lrn=False, pool4_kernel=2, avgpool=nn.AdaptiveAvgPool2d(1), dropout=0.2,
                     aux_pool=(lambda: nn.AdaptiveAvgPool2d(4)) if aux else None,
                     pool_ceil_in_modules=True)
