"""Inception-v2: the outline of Rethinking the Inception Architecture, Table 1, at 299×299.

The paper prints the outline (layer type, patch size/stride, input size) but no
per-module widths.  The widths below are a choice: Inception-v3's released widths
wherever the shapes match (inception_v3.py), with the 35×35 modules taking and
giving 288 channels (the stem ends in Table 1's 35×35×288), the branch-2 conv a
3×3 as Fig. 5 draws it, a fifth 17×17 module, and 2048 channels out of the 8×8
modules.  Units: channels; sizes H×W×C.
"""
from __future__ import annotations

import torch.nn as nn

from .factorized import Conv, Pool, StagedNet, attach_outline, rethinking_stages
from .registry import register_variant

# Table 1 stem: name, layer  (output size at 299×299 in the comment)
STEM = [
    ("conv_1", Conv(32, 3, 2, 0)),      # conv 3×3/2          → 149×149×32
    ("conv_2", Conv(32, 3, 1, 0)),      # conv 3×3/1          → 147×147×32
    ("conv_3", Conv(64, 3, 1, 1)),      # conv padded 3×3/1   → 147×147×64
    ("pool_1", Pool("max", 3, 2)),      # pool 3×3/2          → 73×73×64
    ("conv_4", Conv(80, 3, 1, 0)),      # conv 3×3/1          → 71×71×80
    ("conv_5", Conv(192, 3, 2, 0)),     # conv 3×3/2          → 35×35×192
    ("conv_6", Conv(288, 3, 1, 1)),     # conv 3×3/1 (padded) → 35×35×288
]

# Rethinking Sec. 6 says Table 1's network already factorizes "the traditional 7×7
# convolution into three 3×3 convolutions", and Table 3 lists that change ("Factorized 7×7")
# as a step after "Inception-v2".  ``stem="7x7"`` builds the step before it: one 7×7/2 conv
# (299 → 147, 64 channels) where Table 1 has conv_1, conv_2, conv_3.
STEM_7X7 = [("conv_7x7", Conv(64, 7, 2, 0))] + STEM[3:]   # conv 7×7/2 → 147×147×64

# 3× Fig. 5 at 35×35×288 (v3's Mixed_5d widths; 64+64+96+64 = 288):
#   name, #1×1, #3×3 reduce, #3×3, #3×3dbl reduce, #3×3, #3×3, pool proj
FIG5 = [
    ("fig5_1", 64, 48, 64, 64, 96, 96, 64),
    ("fig5_2", 64, 48, 64, 64, 96, 96, 64),
    ("fig5_3", 64, 48, 64, 64, 96, 96, 64),
]

# Fig. 10 grid reduction 35×35×288 → 17×17×768 (v3's Mixed_6a; 384 + 96 + 288 = 768):
#   name, k, l, m, n (Inception-v4's Reduction-A notation)
REDUCTION_35 = ("reduce_35to17", 64, 96, 96, 384)

# 5× Fig. 6 (n = 7) at 17×17×768 (v3's Mixed_6b-6e widths, one more 160 module):
#   name, #1×1, c7, #1×7-7×1 out, #double out, pool proj  (192·4 = 768)
FIG6 = [
    ("fig6_1", 192, 128, 192, 192, 192),
    ("fig6_2", 192, 160, 192, 192, 192),
    ("fig6_3", 192, 160, 192, 192, 192),
    ("fig6_4", 192, 160, 192, 192, 192),
    ("fig6_5", 192, 192, 192, 192, 192),
]

# grid reduction 17×17×768 → 8×8×1280 (v3's Mixed_7a; 320 + 192 + 768 = 1280):
#   name, (1×1, 3×3/2), (1×1, 1×7, 7×1, 3×3/2)
REDUCTION_17 = ("reduce_17to8", (192, 320), (192, 192, 192, 192))

# 2× Fig. 7 at 8×8, 1280 → 2048 → 2048 (v3's Mixed_7b/7c; 320 + 768 + 768 + 192 = 2048):
#   name, #1×1, #3×3 reduce, #1×3|3×1 each, #3×3dbl reduce, #3×3, #1×3|3×1 each, pool proj
FIG7 = [
    ("fig7_1", 320, 384, 384, 448, 384, 384, 192),
    ("fig7_2", 320, 384, 384, 448, 384, 384, 192),
]

# Table 1 row → top-level children.  Each grid reduction closes the group before it,
# so every group's first child sees the input size Table 1 prints for it.
OUTLINE = [
    ("conv 3×3/2", ["conv_1"]),
    ("conv 3×3/1", ["conv_2"]),
    ("conv padded 3×3/1", ["conv_3"]),
    ("pool 3×3/2", ["pool_1"]),
    ("conv 3×3/1 (2)", ["conv_4"]),
    ("conv 3×3/2 (2)", ["conv_5"]),
    ("conv 3×3/1 (3)", ["conv_6"]),
    ("3×Inception (Fig. 5)", ["fig5_1", "fig5_2", "fig5_3", "reduce_35to17"]),
    ("5×Inception (Fig. 6)", ["fig6_1", "fig6_2", "fig6_3", "fig6_4", "fig6_5", "reduce_17to8"]),
    ("2×Inception (Fig. 7)", ["fig7_1", "fig7_2"]),
    ("pool 8×8", ["avgpool"]),
    ("linear", ["fc"]),
    ("softmax", []),
]
# stem="7x7": one 7×7/2 row (not in the printed Table 1) in place of the three 3×3 rows
OUTLINE_7X7 = [("conv 7×7/2", ["conv_7x7"])] + OUTLINE[3:]


@register_variant(
    "inception_v2", input_size=(3, 299, 299),
    description="Inception-v2: Rethinking Table 1 outline (Figs. 5/6/7/10 modules), 299×299",
    source="paper: Szegedy et al. 2016, Rethinking the Inception Architecture, Table 1 "
           "(per-module widths chosen, see inception_v2.py)")
def build_inception_v2(num_classes: int = 1000, stem: str = "factorized") -> nn.Module:
    """``stem="factorized"``: Table 1's three 3×3 convs (Table 3's "Factorized 7×7" row);
    ``stem="7x7"``: one 7×7/2 conv to 64 channels in their place (Table 3's "Inception-v2")."""
    stems = {"factorized": STEM, "7x7": STEM_7X7}
    if stem not in stems:
        raise ValueError(f"stem must be 'factorized' or '7x7', got {stem!r}")
    s = rethinking_stages(stems[stem], FIG5, 3, REDUCTION_35, FIG6, REDUCTION_17, FIG7)
    model = StagedNet(s.items, s.channels, num_classes)
    return attach_outline(model, OUTLINE if stem == "factorized" else OUTLINE_7X7)
