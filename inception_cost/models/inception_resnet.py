"""Inception-ResNet-v1 (from the paper) and Inception-ResNet-v2 (timm's layout), 299×299.

Szegedy et al. 2017, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning".  Each residual block concatenates its branches, projects
them back to the block's width with a linear 1×1 conv (bias, no BN), scales the
result and adds it to the input (factorized.ResidualInception).  Units: channels.

The paper gives no per-block residual scale for v1 (Section 3.3: "between 0.1 and
0.3"); v1 uses the released v2's 0.17 / 0.10 / 0.20 for A / B / C.  Scales change
no parameter or MAC count.
"""
from __future__ import annotations

import torch.nn as nn

from .factorized import (AVG_POOL_SAME_NO_PAD_COUNT, Conv, GridReduction, InceptionFig5,
                         InceptionResNetA, InceptionResNetB, InceptionResNetC, Pool,
                         ResidualGridReduction, StagedNet, Stages)
from .inception_v3 import STEM as V3_STEM
from .registry import register_variant

# --- Inception-ResNet-v1 (paper) ------------------------------------------------
# Fig. 14 stem: name, layer (output at 299×299)
V1_STEM = [
    ("conv_1a", Conv(32, 3, 2, 0)),     # 149×149×32
    ("conv_2a", Conv(32, 3, 1, 0)),     # 147×147×32
    ("conv_2b", Conv(64, 3, 1, 1)),     # 147×147×64
    ("pool_3a", Pool("max", 3, 2)),     # 73×73×64
    ("conv_3b", Conv(80, 1)),           # 73×73×80
    ("conv_4a", Conv(192, 3, 1, 0)),    # 71×71×192
    ("conv_4b", Conv(256, 3, 2, 0)),    # 35×35×256
]
# block rows: repeats, #1×1, branch widths..., scale
V1_A = (5, 32, (32, 32), (32, 32, 32), 0.17)          # Fig. 10, 35×35×256
V1_REDUCTION_A = (192, 192, 256, 384)                 # Fig. 7 with Table 1's k, l, m, n
V1_B = (10, 128, (128, 128, 128), 0.10)               # Fig. 11, 17×17×896
V1_REDUCTION_B = ((256, 384), (256, 256), (256, 256, 256))  # Fig. 12 → 8×8×1792
V1_C = (5, 192, (192, 192, 192), 0.20)                # Fig. 13, 8×8×1792
V1_DROPOUT = 0.2                                      # Fig. 15: dropout, keep 0.8

# --- Inception-ResNet-v2 (timm / TF-slim release) ---------------------------------
# stem: Inception-v3's stem, then a Fig. 5 module (5×5 in branch 2) → 35×35×320:
#   #1×1, (#5×5 reduce, #5×5), (#3×3 reduce, #3×3, #3×3), pool proj
V2_MIXED_5B = (96, (48, 64), (64, 96, 96), 64)
V2_A = (10, 32, (32, 32), (32, 48, 64), 0.17)         # Fig. 16, 35×35×320
V2_REDUCTION_A = (256, 256, 384, 384)                 # k, l, m, n → 17×17×1088
V2_B = (20, 192, (128, 160, 192), 0.10)               # Fig. 17, 17×17×1088
V2_REDUCTION_B = ((256, 384), (256, 288), (256, 288, 320))  # Fig. 18 → 8×8×2080
V2_C = (9, 192, (192, 224, 256), 0.20)                # Fig. 19, 8×8×2080; then one more
                                                      # block, scale 1.0, no ReLU
V2_FEATURES = 1536                                    # final 1×1 conv 2080 → 1536


def _residual_stages(s: Stages, a, reduction_a, b, reduction_b, c) -> None:
    """The shared body of both Inception-ResNets: reps x block A (35x35), Reduction-A,
    reps x block B (17x17), Reduction-B, reps x block C (8x8); widths from the tables."""
    reps, a1, a2, a3, a_scale = a
    s.repeat("block_a", reps, lambda ch: InceptionResNetA(ch, a1, a2, a3, a_scale))
    s.add("reduction_a", lambda ch: GridReduction(ch, *reduction_a))
    reps, b1, b2, b_scale = b
    s.repeat("block_b", reps, lambda ch: InceptionResNetB(ch, b1, b2, b_scale))
    s.add("reduction_b", lambda ch: ResidualGridReduction(ch, *reduction_b))
    reps, c1, c2, c_scale = c
    s.repeat("block_c", reps, lambda ch: InceptionResNetC(ch, c1, c2, c_scale))


@register_variant(
    "inception_resnet_v1", input_size=(3, 299, 299),
    description="Inception-ResNet-v1: Fig. 14 stem, 5×A, 10×B, 5×C residual blocks",
    source="paper: Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of "
           "Residual Connections on Learning, Figs. 7, 10-15")
def build_inception_resnet_v1(num_classes: int = 1000) -> nn.Module:
    s = Stages(3)
    s.add_specs(V1_STEM)
    _residual_stages(s, V1_A, V1_REDUCTION_A, V1_B, V1_REDUCTION_B, V1_C)
    return StagedNet(s.items, s.channels, num_classes, V1_DROPOUT)


@register_variant(
    "inception_resnet_v2", input_size=(3, 299, 299), reference="timm:inception_resnet_v2",
    description="Inception-ResNet-v2 as released (timm layout): 10×A, 20×B, 10×C, 55.8M params",
    source="paper: Szegedy et al. 2017, Inception-v4, Inception-ResNet and the Impact of "
           "Residual Connections on Learning, Figs. 16-19; reference: timm inception_resnet_v2")
def build_inception_resnet_v2(num_classes: int = 1000) -> nn.Module:
    s = Stages(3)
    s.add_specs(V3_STEM)
    b1, b2, b3, proj = V2_MIXED_5B
    s.add("mixed_5b", lambda c: InceptionFig5(c, b1, b2, b3, proj, b2_kernel=5,
                                              pool=AVG_POOL_SAME_NO_PAD_COUNT))
    _residual_stages(s, V2_A, V2_REDUCTION_A, V2_B, V2_REDUCTION_B, V2_C)
    reps, b1, b2, _ = V2_C
    s.add(f"block_c{reps + 1}", lambda c: InceptionResNetC(c, b1, b2, 1.0, relu=False))
    s.add_specs([("conv_7b", Conv(V2_FEATURES))])
    return StagedNet(s.items, s.channels, num_classes)
