"""Inception-v3 as released (TF-slim / torchvision layout), 299×299 input.

The release differs from Rethinking's Table 1 outline: the stem has a 1×1 conv
and a max pool where the table has two 3×3 convs, the 35×35 modules keep a 5×5
branch next to the double 3×3 and grow 192 → 256 → 288, and there are four
17×17 modules, not five.  All convs are conv (no bias) → BN (eps 0.001) → ReLU.
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from .blocks import ConvBNReLU
from .factorized import Conv, Pool, StagedNet, attach_outline, rethinking_stages
from .registry import register_variant

# stem: name, layer (Conv(out, kernel, stride, padding) or Pool)
STEM = [
    ("conv_1a", Conv(32, 3, 2, 0)),    # 299 → 149
    ("conv_2a", Conv(32, 3, 1, 0)),    # → 147
    ("conv_2b", Conv(64, 3, 1, 1)),    # → 147
    ("pool_3a", Pool("max", 3, 2)),    # → 73
    ("conv_3b", Conv(80, 1)),          # → 73
    ("conv_4a", Conv(192, 3, 1, 0)),   # → 71
    ("pool_5a", Pool("max", 3, 2)),    # → 35
]

# 35×35 Fig. 5 modules (released with a 5×5 in branch 2):
#   name, #1×1, #5×5 reduce, #5×5, #3×3 reduce, #3×3, #3×3, pool proj
FIG5 = [
    ("mixed_5b", 64, 48, 64, 64, 96, 96, 32),
    ("mixed_5c", 64, 48, 64, 64, 96, 96, 64),
    ("mixed_5d", 64, 48, 64, 64, 96, 96, 64),
]

# 35×35 → 17×17 grid reduction (Fig. 10), Inception-v4 notation: name, k, l, m, n
REDUCTION_35 = ("mixed_6a", 64, 96, 96, 384)

# 17×17 Fig. 6 modules (n = 7): name, #1×1, c7 (width of every inner 1×1/1×7/7×1),
#   #out of the 1×7-7×1 branch, #out of the double branch, pool proj
FIG6 = [
    ("mixed_6b", 192, 128, 192, 192, 192),
    ("mixed_6c", 192, 160, 192, 192, 192),
    ("mixed_6d", 192, 160, 192, 192, 192),
    ("mixed_6e", 192, 192, 192, 192, 192),
]

# 17×17 → 8×8 reduction: name, (1×1, 3×3/2), (1×1, 1×7, 7×1, 3×3/2)
REDUCTION_17 = ("mixed_7a", (192, 320), (192, 192, 192, 192))

# 8×8 Fig. 7 modules: name, #1×1, #3×3 reduce, #1×3|3×1 each,
#   #3×3dbl reduce, #3×3, #1×3|3×1 each, pool proj
FIG7 = [
    ("mixed_7b", 320, 384, 384, 448, 384, 384, 192),
    ("mixed_7c", 320, 384, 384, 448, 384, 384, 192),
]

FEATURES = 2048
DROPOUT = 0.5
AUX_TAP, AUX_IN = "mixed_6e", 768   # the auxiliary head sits on the 17×17×768 grid

# Rethinking Table 1 row → the released layer(s) that play its part.  Grid
# reductions go with the group before them (Table 1 gives each group's input
# size, and the reduction sits between groups).  The release has no counterpart
# of "conv 3×3/1 (3)" (35×35×192 → 288): Mixed_5b takes the 192 channels directly;
# its "conv 3×3/1 (2)" is a 1×1, and "conv 3×3/2 (2)" is a 3×3/1 conv followed by
# a 3×3/2 max pool.  The auxiliary head (aux=True) is listed with the 17×17 group
# it taps, the dropout (no Table 1 row, no ops in eval) with the pool before it;
# names absent from a model are dropped from ``model.outline``.
OUTLINE = [
    ("conv 3×3/2", ["conv_1a"]),
    ("conv 3×3/1", ["conv_2a"]),
    ("conv padded 3×3/1", ["conv_2b"]),
    ("pool 3×3/2", ["pool_3a"]),
    ("conv 3×3/1 (2)", ["conv_3b"]),
    ("conv 3×3/2 (2)", ["conv_4a", "pool_5a"]),
    ("conv 3×3/1 (3)", []),
    ("3×Inception (Fig. 5)", ["mixed_5b", "mixed_5c", "mixed_5d", "mixed_6a"]),
    ("5×Inception (Fig. 6)", ["mixed_6b", "mixed_6c", "mixed_6d", "mixed_6e", "aux", "mixed_7a"]),
    ("2×Inception (Fig. 7)", ["mixed_7b", "mixed_7c"]),
    ("pool 8×8", ["avgpool", "dropout"]),
    ("linear", ["fc"]),
    ("softmax", []),
]


class AuxHead(nn.Module):
    """Inception-v3's auxiliary classifier on the 17×17×768 grid: 5×5/3 avg pool →
    1×1 conv 128 → 5×5 conv 768 → global average pool → linear."""

    def __init__(self, cin: int, num_classes: int, reduce: int = 128, width: int = 768):
        super().__init__()
        self.conv0 = ConvBNReLU(cin, reduce, 1)
        self.conv1 = ConvBNReLU(reduce, width, 5)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


@register_variant(
    "inception_v3", input_size=(3, 299, 299), reference="torchvision:inception_v3",
    description="Inception-v3 as released (TF-slim/torchvision layout), 23.8M params",
    source="paper: Szegedy et al. 2016, Rethinking the Inception Architecture; "
           "reference: torchvision inception_v3")
def build_inception_v3(num_classes: int = 1000, aux: bool = False) -> nn.Module:
    """``aux=True`` adds the auxiliary classifier on Mixed_6e; it runs in eval too
    and the forward returns ``(logits, aux_logits)``."""
    s = rethinking_stages(STEM, FIG5, 5, REDUCTION_35, FIG6, REDUCTION_17, FIG7)
    aux_head = (AUX_TAP, AuxHead(AUX_IN, num_classes)) if aux else None
    model = StagedNet(s.items, s.channels, num_classes, DROPOUT, aux=aux_head)
    return attach_outline(model, OUTLINE)
