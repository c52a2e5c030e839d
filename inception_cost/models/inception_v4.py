"""Inception-v4 (Szegedy et al. 2017, Figs. 3-9) in timm's layout, 299×299 input.

Stem of Fig. 3 → 4× Inception-A (35×35×384) → Reduction-A → 7× Inception-B
(17×17×1024) → Reduction-B → 3× Inception-C (8×8×1536) → average pool → dropout
(keep 0.8) → linear.  Inception-A/B/C are Rethinking's Fig. 5/6/7 modules with
v4's widths; every conv is conv (no bias) → BN (eps 0.001) → ReLU.  Units: channels.
"""
from __future__ import annotations

import torch.nn as nn

from .factorized import (AVG_POOL_SAME_NO_PAD_COUNT, MAX_POOL_S2, Conv, FactorizedGridReduction,
                         GridReduction, InceptionFig5, InceptionFig6, InceptionFig7, Mixed,
                         StagedNet, Stages, reduce_conv)
from .registry import register_variant

POOL = AVG_POOL_SAME_NO_PAD_COUNT

# Fig. 3 stem, plain layers: name, layer
STEM = [
    ("conv_1a", Conv(32, 3, 2, 0)),    # 299 → 149×149×32
    ("conv_2a", Conv(32, 3, 1, 0)),    # → 147×147×32
    ("conv_2b", Conv(64, 3, 1, 1)),    # → 147×147×64
]

# Fig. 3 stem, filter concats: name, branches (each read input → output)
STEM_MIXED = [
    ("mixed_3a", [[MAX_POOL_S2], [reduce_conv(96)]]),                        # → 73×73×160
    ("mixed_4a", [[Conv(64), Conv(96, 3, 1, 0)],
                  [Conv(64), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, 1, 0)]]),  # → 71×71×192
    ("mixed_5a", [[reduce_conv(192)], [MAX_POOL_S2]]),                       # → 35×35×384
]

# Inception-A (Fig. 4): repeats, #1×1, #3×3 reduce, #3×3, #3×3dbl reduce, #3×3, #3×3, pool proj
INCEPTION_A = (4, 96, 64, 96, 64, 96, 96, 96)
# Reduction-A (Fig. 7, Table 1): k, l, m, n
REDUCTION_A = (192, 224, 256, 384)
# Inception-B (Fig. 5): repeats, #1×1, (1×1, 1×7, 7×1), (1×1, 7×1, 1×7, 7×1, 1×7), pool proj
INCEPTION_B = (7, 384, (192, 224, 256), (192, 192, 224, 224, 256), 128)
# Reduction-B (Fig. 8): (1×1, 3×3/2), (1×1, 1×7, 7×1, 3×3/2)
REDUCTION_B = ((192, 192), (256, 256, 320, 320))
# Inception-C (Fig. 6): repeats, #1×1, (1×1, 1×3|3×1 each), (1×1, 3×1, 1×3, 1×3|3×1 each), pool proj
INCEPTION_C = (3, 256, (384, 256), (384, 448, 512, 256), 256)

DROPOUT = 0.2   # keep probability 0.8


@register_variant(
    "inception_v4", input_size=(3, 299, 299), reference="timm:inception_v4",
    description="Inception-v4: Fig. 3 stem, 4×A, 7×B, 3×C with reductions, 42.7M params",
    source="paper: Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of "
           "Residual Connections on Learning, Figs. 3-9; reference: timm inception_v4")
def build_inception_v4(num_classes: int = 1000) -> nn.Module:
    s = Stages(3)
    s.add_specs(STEM)
    for name, branches in STEM_MIXED:
        s.add(name, lambda c: Mixed(c, branches))
    reps, b1, r2, c2, r3, m3, c3, proj = INCEPTION_A
    s.repeat("inception_a", reps, lambda c: InceptionFig5(c, b1, (r2, c2), (r3, m3, c3), proj,
                                                          b2_kernel=3, pool=POOL))
    s.add("reduction_a", lambda c: GridReduction(c, *REDUCTION_A))
    reps, b1, b2, b3, proj = INCEPTION_B
    s.repeat("inception_b", reps, lambda c: InceptionFig6(c, b1, b2, b3, proj, pool=POOL))
    s.add("reduction_b", lambda c: FactorizedGridReduction(c, *REDUCTION_B))
    reps, b1, b2, b3, proj = INCEPTION_C
    s.repeat("inception_c", reps, lambda c: InceptionFig7(c, b1, b2, b3, proj,
                                                          factorize_mid=True, pool=POOL))
    return StagedNet(s.items, s.channels, num_classes, DROPOUT)
