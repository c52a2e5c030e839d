"""BN-Inception (Ioffe & Szegedy 2015, "Batch Normalization", Figure 5), from its table.

GoogLeNet with BatchNorm after every convolution, each 5x5 replaced by two 3x3 ("double
3x3" branch), average or max pooling + 1x1 projection in the pool branch, and two stride-2
modules (3c, 4e) that drop the 1x1 branch and pass the max-pooled input through.  Stem as in
the table: 7x7/2 conv 64, 3x3/2 max pool, 1x1 conv 64, 3x3 conv 192, 3x3/2 max pool; then a
7x7 average pool and a linear classifier (no dropout, no LRN).  Max pools use ceil_mode, so
224 -> 112 -> 56 -> 28 -> 14 -> 7.

The table is not self-consistent: it prints output depth 576 for 4c and 4d, but their rows
sum to 160+160+160+128 = 608 and 96+192+192+128 = 608, and 4e then passes 608 channels
through (192+256+608 = 1056, printed 1024).  This module builds what the rows say (608, 608,
1056); 5a/5b then give 1024 as printed.  The same depths (608 into 4d, 1056 into 5a) appear
in the released Caffe model of this network.  ``BN_INCEPTION_NOTES`` records this.

Other readings, as options of the same builder (``BN_INCEPTION_READINGS`` names them):

* ``depths="tf_slim"``: TF-slim's ``inception_v2`` (research/slim/nets/inception_v2.py, the
  BN paper's network) resolves the 576-vs-608 inconsistency the other way: pool projection 96
  (not 128) in 4c and 4d, so every 14x14 module gives the printed 576 and 4e gives 1024;
* ``bias=True``: conv biases next to BatchNorm, as in the Caffe port used by PyTorch's
  ``pretrainedmodels.bninception`` (same convs as ``depths="printed"``);
* ``stem="separable"``: the depthwise-separable 7x7 first conv (depth multiplier 8) the paper's
  text describes and TF-slim builds;
* ``branch="5x5"``: a single 5x5 conv in place of the double 3x3 (the GoogLeNet branch);
* ``aux=1`` / ``aux=2``: GoogLeNet-style auxiliary classifiers on 4a (and 4d), BN convs.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from .blocks import ConvBNReLU, check_widths
from .googlenet import AuxHead, make_stem_conv1
from .registry import register_variant


class BNInceptionRow(NamedTuple):
    """One row of Figure 5: widths per branch; n1x1 = 0 means no 1x1 branch, proj = 0 a
    pass-through pool; stride 2 marks the grid-reducing modules."""

    n1x1: int
    n3x3red: int
    n3x3: int
    d3x3red: int   # double #3x3 reduce
    d3x3: int      # double #3x3 (both convs)
    pool: str      # "avg" or "max"
    proj: int      # pool projection (0: pass through)
    stride: int = 1


BN_INCEPTION_TABLE: dict[str, BNInceptionRow] = {
    #                              1x1 3x3r 3x3 d3r  d3  pool  proj stride
    "inception3a": BNInceptionRow(64, 64, 64, 64, 96, "avg", 32),
    "inception3b": BNInceptionRow(64, 64, 96, 64, 96, "avg", 64),
    "inception3c": BNInceptionRow(0, 128, 160, 64, 96, "max", 0, 2),
    "inception4a": BNInceptionRow(224, 64, 96, 96, 128, "avg", 128),
    "inception4b": BNInceptionRow(192, 96, 128, 96, 128, "avg", 128),
    "inception4c": BNInceptionRow(160, 128, 160, 128, 160, "avg", 128),
    "inception4d": BNInceptionRow(96, 128, 192, 160, 192, "avg", 128),
    "inception4e": BNInceptionRow(0, 128, 192, 192, 256, "max", 0, 2),
    "inception5a": BNInceptionRow(352, 192, 320, 160, 224, "avg", 128),
    "inception5b": BNInceptionRow(352, 192, 320, 192, 224, "max", 128),
}
# Output depths as printed in Figure 5 (reference data; see BN_INCEPTION_NOTES).
BN_INCEPTION_PRINTED_DEPTH: dict[str, int] = {
    "inception3a": 256, "inception3b": 320, "inception3c": 576, "inception4a": 576,
    "inception4b": 576, "inception4c": 576, "inception4d": 576, "inception4e": 1024,
    "inception5a": 1024, "inception5b": 1024,
}
BN_INCEPTION_NOTES = (
    "Figure 5 prints depth 576 for 4c and 4d but both rows sum to 608 (160+160+160+128, "
    "96+192+192+128); 4e then passes 608 through (192+256+608 = 1056, printed 1024). "
    "Built as the rows say: 4c 608, 4d 608, 4e 1056; 5a and 5b give 1024 as printed."
)
# TF-slim's depths: the printed output depth 576 kept, the pool projections of 4c/4d cut to 96
BN_INCEPTION_TF_SLIM_TABLE: dict[str, BNInceptionRow] = {
    **BN_INCEPTION_TABLE,
    "inception4c": BN_INCEPTION_TABLE["inception4c"]._replace(proj=96),
    "inception4d": BN_INCEPTION_TABLE["inception4d"]._replace(proj=96),
}
BN_INCEPTION_DEPTHS: dict[str, dict[str, BNInceptionRow]] = {
    "printed": BN_INCEPTION_TABLE, "tf_slim": BN_INCEPTION_TF_SLIM_TABLE,
}
# Auxiliary heads, GoogLeNet's placement (Sec. 5 of its paper): head name -> module it taps
BN_INCEPTION_AUX_TAPS: dict[str, str] = {"aux1": "inception4a", "aux2": "inception4d"}


class BNInceptionModule(nn.Module):
    """1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool (-> 1x1 proj), concatenated.

    With ``row.stride == 2`` the last conv of each 3x3 branch and the 3x3 max pool have
    stride 2 (no 1x1 branch, pass-through pool)."""

    def __init__(self, in_channels: int, row: BNInceptionRow, eps: float = 1e-5,
                 bias: bool = False, branch: str = "double3x3"):
        super().__init__()
        s = row.stride
        if branch not in ("double3x3", "5x5"):
            raise ValueError(f"branch must be 'double3x3' or '5x5', got {branch!r}")
        if s not in (1, 2) or row.pool not in ("avg", "max"):
            raise ValueError(f"bad BN-Inception row {row}")
        check_widths("BNInceptionModule", in_channels=in_channels, n3x3red=row.n3x3red,
                     n3x3=row.n3x3, d3x3red=row.d3x3red, d3x3=row.d3x3)

        def conv(cin, cout, k=1, stride=1):
            return ConvBNReLU(cin, cout, k, stride, k // 2, eps=eps, bias=bias)

        branches = []
        if row.n1x1:
            branches.append(conv(in_channels, row.n1x1))
        branches.append(nn.Sequential(conv(in_channels, row.n3x3red),
                                      conv(row.n3x3red, row.n3x3, 3, s)))
        if branch == "5x5":
            branches.append(nn.Sequential(conv(in_channels, row.d3x3red),
                                          conv(row.d3x3red, row.d3x3, 5, s)))
        else:
            branches.append(nn.Sequential(conv(in_channels, row.d3x3red),
                                          conv(row.d3x3red, row.d3x3, 3),
                                          conv(row.d3x3, row.d3x3, 3, s)))
        if s == 2:
            pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        elif row.pool == "max":
            pool = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
        else:
            pool = nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True)
        branches.append(nn.Sequential(pool, conv(in_channels, row.proj)) if row.proj else pool)
        self.branches = nn.ModuleList(branches)
        self.in_channels = in_channels
        self.out_channels = row.n1x1 + row.n3x3 + row.d3x3 + (row.proj or in_channels)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class BNInception(nn.Module):
    """Figure 5's network: stem, ten modules, 7x7 average pool, linear; with ``aux`` heads
    the forward returns ``(logits, aux1_logits[, aux2_logits])``."""

    def __init__(self, num_classes: int = 1000, stem: str = "standard", eps: float = 1e-5,
                 depths: str = "printed", bias: bool = False, branch: str = "double3x3",
                 aux: int = 0):
        super().__init__()
        if depths not in BN_INCEPTION_DEPTHS:
            raise ValueError(f"depths must be one of {', '.join(BN_INCEPTION_DEPTHS)}, "
                             f"got {depths!r}")
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be true or false, got {bias!r}")
        if aux not in (0, 1, 2) or isinstance(aux, bool):
            raise ValueError(f"aux must be 0, 1 or 2 (heads on 4a, 4d), got {aux!r}")

        def conv(cin, cout, k=1, stride=1, padding=0):
            return ConvBNReLU(cin, cout, k, stride, padding, eps=eps, bias=bias)

        self.conv1 = make_stem_conv1(stem, conv)
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2_reduce = conv(64, 64, 1)
        self.conv2 = conv(64, 192, 3, 1, 1)
        self.pool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        channels, taps = 192, {}
        for name, row in BN_INCEPTION_DEPTHS[depths].items():
            block = BNInceptionModule(channels, row, eps, bias, branch)
            self.add_module(name, block)
            channels = block.out_channels
            taps[name] = channels
        self._trunk = list(self._modules)
        self.avgpool = nn.AvgPool2d(7, stride=1)
        self.fc = nn.Linear(channels, num_classes)
        self._taps: dict[str, str] = {}
        for head, row in list(BN_INCEPTION_AUX_TAPS.items())[:aux]:
            self.add_module(head, AuxHead(taps[row], num_classes, nn.AvgPool2d(5, stride=3),
                                          conv))
            self._taps[row] = head

    def forward(self, x):
        aux = []
        for name in self._trunk:
            x = getattr(self, name)(x)
            if name in self._taps:
                aux.append(getattr(self, self._taps[name])(x))
        x = self.fc(torch.flatten(self.avgpool(x), 1))
        return (x, *aux) if aux else x


# The readings the paper audit builds: label -> builder options (all at 224x224).
BN_INCEPTION_READINGS: dict[str, dict] = {
    "Figure 5 as printed (rows sum to 608)": {},
    "Caffe port (pretrainedmodels.bninception): + conv biases": {"bias": True},
    "Figure 5 + separable 7x7 stem": {"stem": "separable"},
    "TF-slim inception_v2 (proj 96 in 4c/4d) + separable stem":
        {"depths": "tf_slim", "stem": "separable"},
    "TF-slim depths, standard 7x7 stem": {"depths": "tf_slim"},
    "5x5 instead of the double 3x3": {"branch": "5x5"},
    "+ one GoogLeNet-style aux head (4a)": {"aux": 1},
    "+ two GoogLeNet-style aux heads (4a, 4d)": {"aux": 2},
}


@register_variant("bn_inception", input_size=(3, 224, 224),
                  description="BN-Inception (Inception-v2 of the BN paper): BN everywhere, 5x5 -> "
                              "two 3x3, stride-2 modules 3c/4e; 4c/4d rows sum to 608 (printed 576): "
                              "built as the rows say",
                  source="paper: Ioffe & Szegedy 2015, Batch Normalization, Figure 5")
def build_bn_inception(num_classes: int = 1000, stem: str = "standard", depths: str = "printed",
                       bias: bool = False, branch: str = "double3x3", aux: int = 0) -> nn.Module:
    """``stem="separable"``: depthwise 7x7 (multiplier 8) + pointwise conv1, as the paper's
    text describes; "standard": a plain 7x7/2 conv.  ``depths="tf_slim"``: pool projection 96
    in 4c/4d (TF-slim); ``bias``: conv biases (Caffe port); ``branch="5x5"``: one 5x5 in place
    of the double 3x3; ``aux``: 0, 1 or 2 GoogLeNet-style auxiliary heads (4a, 4d)."""
    check_widths("bn_inception", num_classes=num_classes)
    return BNInception(num_classes, stem, depths=depths, bias=bias, branch=branch, aux=aux)
