"""Factorized Inception blocks (Rethinking Figs. 5, 6, 7, 10; Inception-v4; Inception-ResNet).

Every block is a table of parallel branches.  A branch is a list of layer specs
(:class:`Conv`, :class:`Pool`, :class:`Split`) read left to right, exactly as the
papers draw them bottom to top; :class:`Mixed` builds the branches and concatenates
their outputs on channels.  The named blocks below only turn their width arguments
(channel counts) into such a table, so two papers' blocks that differ only by widths
are one class with two width rows (the rows live in the network files).

Spatial size comes from the input tensor; every conv is "same"-padded unless its
spec says otherwise (the stride-2 "valid" convs of the grid reductions).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence, Union

import torch.nn as nn

from ..errors import UsageError
from .blocks import Concat, ConvBNReLU, check_widths
from .registry import register_variant


# --------------------------------------------------------------------------- #
# layer specs
# --------------------------------------------------------------------------- #
class Conv(NamedTuple):
    """conv (no bias) -> BN -> ReLU with ``out`` channels; padding "same" = k//2."""

    out: int
    kernel: Union[int, tuple[int, int]] = 1
    stride: int = 1
    padding: Union[int, tuple[int, int], str] = "same"


class Pool(NamedTuple):
    """max or average pool; ``count_include_pad`` only matters for padded average pools."""

    kind: str = "max"
    kernel: int = 3
    stride: int = 2
    padding: int = 0
    count_include_pad: bool = True


class Split(NamedTuple):
    """Rethinking Fig. 7's fork: parallel 1×n and n×1 convs (``out`` channels each),
    concatenated to 2·out channels."""

    out: int
    n: int = 3


Spec = Union[Conv, Pool, Split]


def reduce_conv(out: int) -> Conv:
    """The 3×3 stride-2 unpadded ("V") conv that ends every grid-reduction branch."""
    return Conv(out, 3, 2, 0)


MAX_POOL_S2 = Pool("max", 3, 2, 0)                       # 3×3/2, unpadded
AVG_POOL_SAME = Pool("avg", 3, 1, 1)                     # 3×3/1, padded (TF-slim, torchvision)
AVG_POOL_SAME_NO_PAD_COUNT = Pool("avg", 3, 1, 1, False)  # as in timm's v4 / Inception-ResNet


# --------------------------------------------------------------------------- #
# building blocks
# --------------------------------------------------------------------------- #
class SplitConv(Concat):
    """Parallel (1×n) and (n×1) convs on one input, concatenated (Rethinking Fig. 7)."""

    def __init__(self, cin: int, out: int, n: int = 3, eps: float = 1e-3):
        super().__init__([ConvBNReLU(cin, out, (1, n), padding="same", eps=eps),
                          ConvBNReLU(cin, out, (n, 1), padding="same", eps=eps)])
        self.out_channels = 2 * out


def make_layer(cin: int, spec: Spec, eps: float = 1e-3) -> tuple[nn.Module, int]:
    """One layer from its spec; returns (module, output channels)."""
    if isinstance(spec, Conv):
        check_widths("conv", out=spec.out)
        return ConvBNReLU(cin, spec.out, spec.kernel, spec.stride, spec.padding, eps=eps), spec.out
    if isinstance(spec, Split):
        check_widths("split conv", out=spec.out)
        return SplitConv(cin, spec.out, spec.n, eps=eps), 2 * spec.out
    if isinstance(spec, Pool):
        if spec.kind == "max":
            return nn.MaxPool2d(spec.kernel, spec.stride, spec.padding), cin
        if spec.kind == "avg":
            return nn.AvgPool2d(spec.kernel, spec.stride, spec.padding,
                                count_include_pad=spec.count_include_pad), cin
    raise ValueError(f"unknown layer spec {spec!r}")


class Chain(nn.Sequential):
    """Layers applied one after another; ``out_channels`` is the last layer's width."""

    def __init__(self, cin: int, specs: Sequence[Spec], eps: float = 1e-3):
        layers, c = [], cin
        for spec in specs:
            layer, c = make_layer(c, spec, eps)
            layers.append(layer)
        super().__init__(*layers)
        self.out_channels = c


class Mixed(Concat):
    """Parallel branches (each a :class:`Chain`) concatenated on channels."""

    def __init__(self, cin: int, branches: Sequence[Sequence[Spec]], eps: float = 1e-3):
        chains = [Chain(cin, b, eps) for b in branches]
        super().__init__(chains)
        self.out_channels = sum(c.out_channels for c in chains)


# --------------------------------------------------------------------------- #
# Rethinking the Inception Architecture (Szegedy et al. 2016)
# --------------------------------------------------------------------------- #
class InceptionFig5(Mixed):
    """Fig. 5: the 5×5 of GoogLeNet's module replaced by two 3×3 convs.

    Branches: 1×1 ``b1``; 1×1 → k×k ``b2=(reduce, out)`` (k = ``b2_kernel``: 3 as
    drawn, 5 in the released Inception-v3 and Inception-ResNet-v2's Mixed_5b);
    1×1 → 3×3 → 3×3 ``b3=(reduce, mid, out)``; 3×3 avg pool → 1×1 ``pool_proj``.
    Inception-v4's Inception-A is this block with v4's widths.
    """

    def __init__(self, cin: int, b1: int, b2: tuple[int, int], b3: tuple[int, int, int],
                 pool_proj: int, b2_kernel: int = 3, pool: Pool = AVG_POOL_SAME):
        check_widths("Fig. 5 module", cin=cin, b1=b1, b2=tuple(b2), b3=tuple(b3),
                     pool_proj=pool_proj)
        super().__init__(cin, [
            [Conv(b1)],
            [Conv(b2[0]), Conv(b2[1], b2_kernel)],
            [Conv(b3[0]), Conv(b3[1], 3), Conv(b3[2], 3)],
            [pool, Conv(pool_proj)],
        ])


class InceptionFig6(Mixed):
    """Fig. 6: n×n factorized into 1×n followed by n×1 (n = 7 at 17×17).

    Branches: 1×1 ``b1``; 1×1 → 1×n → n×1 ``b2=(reduce, mid, out)``;
    1×1 → n×1 → 1×n → n×1 → 1×n ``b3=(reduce, m1, m2, m3, out)``;
    3×3 avg pool → 1×1 ``pool_proj``.  Inception-v4's Inception-B is this block.
    """

    def __init__(self, cin: int, b1: int, b2: tuple[int, int, int],
                 b3: tuple[int, int, int, int, int], pool_proj: int, n: int = 7,
                 pool: Pool = AVG_POOL_SAME):
        check_widths("Fig. 6 module", cin=cin, b1=b1, b2=tuple(b2), b3=tuple(b3),
                     pool_proj=pool_proj, n=n)
        row, col = (1, n), (n, 1)
        super().__init__(cin, [
            [Conv(b1)],
            [Conv(b2[0]), Conv(b2[1], row), Conv(b2[2], col)],
            [Conv(b3[0]), Conv(b3[1], col), Conv(b3[2], row), Conv(b3[3], col), Conv(b3[4], row)],
            [pool, Conv(pool_proj)],
        ])


class InceptionFig7(Mixed):
    """Fig. 7: expanded filter bank for the 8×8 grid (outputs forked into 1×3 and 3×1).

    Branches: 1×1 ``b1``; 1×1 → [1×3 ‖ 3×1] ``b2=(reduce, split)``;
    1×1 → 3×3 → [1×3 ‖ 3×1] ``b3=(reduce, mid, split)``; 3×3 avg pool → 1×1
    ``pool_proj``.  With ``factorize_mid=True`` the 3×3 of ``b3`` is itself
    factorized into 3×1 → 1×3 and ``b3=(reduce, mid_3x1, mid_1x3, split)``: that is
    Inception-v4's Inception-C.
    """

    def __init__(self, cin: int, b1: int, b2: tuple[int, int], b3: tuple[int, ...],
                 pool_proj: int, factorize_mid: bool = False, pool: Pool = AVG_POOL_SAME):
        check_widths("Fig. 7 module", cin=cin, b1=b1, b2=tuple(b2), b3=tuple(b3),
                     pool_proj=pool_proj)
        if len(b3) != (4 if factorize_mid else 3):
            raise UsageError(f"Fig. 7 module: b3 needs {4 if factorize_mid else 3} widths, "
                             f"got {len(b3)}")
        mids = ([Conv(b3[1], (3, 1)), Conv(b3[2], (1, 3))] if factorize_mid
                else [Conv(b3[1], 3)])
        super().__init__(cin, [
            [Conv(b1)],
            [Conv(b2[0]), Split(b2[1])],
            [Conv(b3[0]), *mids, Split(b3[-1])],
            [pool, Conv(pool_proj)],
        ])


class GridReduction(Mixed):
    """Fig. 10: efficient grid reduction, stride-2 conv branches in parallel with a
    3×3/2 max pool, concatenated (the grid halves, the channels grow).

    Widths in Inception-v4's notation (its Fig. 7, "Reduction-A"): 3×3/2 ``n``;
    1×1 ``k`` → 3×3 ``l`` → 3×3/2 ``m``; max pool.  Inception-v3's Mixed_6a,
    Inception-v4's and both Inception-ResNets' Reduction-A are this block.  (Fig. 10
    draws a 1×1 before the lone 3×3/2 too; every released network omits it, and so
    does this block.)
    """

    def __init__(self, cin: int, k: int, l: int, m: int, n: int):  # noqa: E741 (paper's names)
        check_widths("grid reduction", cin=cin, k=k, l=l, m=m, n=n)
        super().__init__(cin, [
            [reduce_conv(n)],
            [Conv(k), Conv(l, 3), reduce_conv(m)],
            [MAX_POOL_S2],
        ])


class FactorizedGridReduction(Mixed):
    """17×17 → 8×8 reduction with a factorized 7×7 branch: 1×1 → 3×3/2 ``b1=(reduce, out)``;
    1×1 → 1×n → n×1 → 3×3/2 ``b2=(reduce, m1, m2, out)``; max pool.  Inception-v3's
    Mixed_7a and Inception-v4's Reduction-B (its Fig. 8)."""

    def __init__(self, cin: int, b1: tuple[int, int], b2: tuple[int, int, int, int], n: int = 7):
        check_widths("factorized grid reduction", cin=cin, b1=tuple(b1), b2=tuple(b2), n=n)
        super().__init__(cin, [
            [Conv(b1[0]), reduce_conv(b1[1])],
            [Conv(b2[0]), Conv(b2[1], (1, n)), Conv(b2[2], (n, 1)), reduce_conv(b2[3])],
            [MAX_POOL_S2],
        ])


class ResidualGridReduction(Mixed):
    """Inception-ResNet's 17×17 → 8×8 Reduction-B (Inception-v4 paper Figs. 12 and 18):
    1×1 → 3×3/2 ``b1``; 1×1 → 3×3/2 ``b2``; 1×1 → 3×3 → 3×3/2 ``b3``; max pool."""

    def __init__(self, cin: int, b1: tuple[int, int], b2: tuple[int, int],
                 b3: tuple[int, int, int]):
        check_widths("Inception-ResNet reduction B", cin=cin, b1=tuple(b1), b2=tuple(b2),
                     b3=tuple(b3))
        super().__init__(cin, [
            [Conv(b1[0]), reduce_conv(b1[1])],
            [Conv(b2[0]), reduce_conv(b2[1])],
            [Conv(b3[0]), Conv(b3[1], 3), reduce_conv(b3[2])],
            [MAX_POOL_S2],
        ])


# --------------------------------------------------------------------------- #
# Inception-ResNet (Szegedy et al. 2017): residual Inception blocks
# --------------------------------------------------------------------------- #
class ResidualInception(nn.Module):
    """x → ReLU(x + scale · proj(Mixed(x))): the branches are concatenated, projected
    back to ``cin`` channels by a linear 1×1 conv (with bias, no BN), scaled (the
    paper's 0.1-0.3 residual scaling) and added to the input."""

    def __init__(self, cin: int, branches: Sequence[Sequence[Spec]], scale: float,
                 relu: bool = True):
        super().__init__()
        self.mixed = Mixed(cin, branches)
        self.project = nn.Conv2d(self.mixed.out_channels, cin, 1)
        self.scale = float(scale)
        self.relu = nn.ReLU() if relu else nn.Identity()
        self.out_channels = cin

    def forward(self, x):
        return self.relu(self.project(self.mixed(x)) * self.scale + x)


class InceptionResNetA(ResidualInception):
    """35×35 block (v1: Fig. 10, v2: Fig. 16): 1×1 ``b1``; 1×1 → 3×3 ``b2=(reduce, out)``;
    1×1 → 3×3 → 3×3 ``b3=(reduce, mid, out)``; linear 1×1 back to ``cin``."""

    def __init__(self, cin: int, b1: int, b2: tuple[int, int], b3: tuple[int, int, int],
                 scale: float = 0.17):
        check_widths("Inception-ResNet-A", cin=cin, b1=b1, b2=tuple(b2), b3=tuple(b3))
        super().__init__(cin, [
            [Conv(b1)],
            [Conv(b2[0]), Conv(b2[1], 3)],
            [Conv(b3[0]), Conv(b3[1], 3), Conv(b3[2], 3)],
        ], scale)


class InceptionResNetB(ResidualInception):
    """17×17 block (v1: Fig. 11, v2: Fig. 17): 1×1 ``b1``; 1×1 → 1×n → n×1
    ``b2=(reduce, mid, out)`` with n = 7; linear 1×1 back to ``cin``.
    The 8×8 block C (v1: Fig. 13, v2: Fig. 19) is the same shape with n = 3."""

    default_n = 7

    def __init__(self, cin: int, b1: int, b2: tuple[int, int, int], scale: float = 0.10,
                 relu: bool = True, n: int | None = None):
        n = self.default_n if n is None else n
        check_widths(f"{type(self).__name__}", cin=cin, b1=b1, b2=tuple(b2), n=n)
        super().__init__(cin, [
            [Conv(b1)],
            [Conv(b2[0]), Conv(b2[1], (1, n)), Conv(b2[2], (n, 1))],
        ], scale, relu)


class InceptionResNetC(InceptionResNetB):
    """8×8 block: :class:`InceptionResNetB` with 1×3 → 3×1."""

    default_n = 3


# --------------------------------------------------------------------------- #
# network scaffolding shared by v2, v3, v4 and Inception-ResNet
# --------------------------------------------------------------------------- #
class Stages:
    """Collects named stages, threading the channel count from one to the next.

    ``add(name, make)`` calls ``make(cin)`` with the current channel count,
    ``repeat`` does so for numbered copies; ``add_specs`` appends plain layers from
    :class:`Conv`/:class:`Pool` specs (a stem table).
    """

    def __init__(self, cin: int):
        self.channels = cin
        self.items: list[tuple[str, nn.Module]] = []

    def add(self, name: str, make) -> nn.Module:
        module = make(self.channels)
        self.items.append((name, module))
        self.channels = module.out_channels
        return module

    def repeat(self, prefix: str, times: int, make) -> None:
        """``times`` stages named prefix1, prefix2, ... each built by ``make(cin)``."""
        for i in range(1, times + 1):
            self.add(f"{prefix}{i}", make)

    def add_specs(self, rows: Sequence[tuple[str, Spec]], eps: float = 1e-3) -> None:
        for name, spec in rows:
            layer, self.channels = make_layer(self.channels, spec, eps)
            self.items.append((name, layer))


class StagedNet(nn.Module):
    """Named stages in order → global average pool → dropout (if p > 0) → linear classifier.

    ``aux=(tap, head)`` adds an auxiliary classifier on the output of stage ``tap``.
    It runs in every forward (training and eval) so that its cost is counted, and
    the forward then returns ``(logits, aux_logits)``; otherwise it returns logits
    of shape (N, num_classes).
    """

    def __init__(self, stages: Sequence[tuple[str, nn.Module]], features: int, num_classes: int,
                 dropout: float = 0.0, aux: tuple[str, nn.Module] | None = None):
        super().__init__()
        check_widths(type(self).__name__, num_classes=num_classes)
        self.stage_names = [name for name, _ in stages]
        self.aux_tap = aux[0] if aux else None
        for name, module in stages:
            self.add_module(name, module)
            if aux and name == aux[0]:
                self.add_module("aux", aux[1])
        if aux and aux[0] not in self.stage_names:
            raise ValueError(f"auxiliary head taps unknown stage '{aux[0]}'")
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        if dropout > 0:
            self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, num_classes)

    def forward(self, x):
        aux = None
        for name in self.stage_names:
            x = self._modules[name](x)
            if name == self.aux_tap:
                aux = self.aux(x)
        x = self.avgpool(x).flatten(1)
        if "dropout" in self._modules:
            x = self.dropout(x)
        x = self.fc(x)
        return x if aux is None else (x, aux)


def rethinking_stages(stem, fig5, fig5_kernel: int, reduction_35, fig6, reduction_17,
                      fig7) -> Stages:
    """Stem → Fig. 5 modules → Fig. 10 reduction → Fig. 6 modules → 17×17 reduction →
    Fig. 7 modules, from width tables laid out as in inception_v3.py / inception_v2.py."""
    s = Stages(3)
    s.add_specs(stem)
    for name, b1, r2, c2, r3, c3a, c3b, proj in fig5:
        s.add(name, lambda c: InceptionFig5(c, b1, (r2, c2), (r3, c3a, c3b), proj,
                                            b2_kernel=fig5_kernel))
    name, k, l, m, n = reduction_35  # noqa: E741
    s.add(name, lambda c: GridReduction(c, k, l, m, n))
    for name, b1, c7, out2, out3, proj in fig6:
        s.add(name, lambda c: InceptionFig6(c, b1, (c7, c7, out2), (c7, c7, c7, c7, out3), proj))
    name, b1, b2 = reduction_17
    s.add(name, lambda c: FactorizedGridReduction(c, b1, b2))
    for name, b1, r2, s2, r3, m, s3, proj in fig7:
        s.add(name, lambda c: InceptionFig7(c, b1, (r2, s2), (r3, m, s3), proj))
    return s


def attach_outline(model: nn.Module, outline) -> nn.Module:
    """Set ``model.outline`` to ``outline`` restricted to the model's top-level children."""
    children = dict(model.named_children())
    model.outline = [(label, [n for n in names if n in children]) for label, names in outline]
    return model


# --------------------------------------------------------------------------- #
# single blocks as "module" variants (defaults: Inception-v2's widths, inception_v2.py)
# --------------------------------------------------------------------------- #
@register_variant(
    "rethinking_fig5", kind="module", input_size=(288, 35, 35),
    description="Rethinking Fig. 5 module: 5×5 replaced by two 3×3 (35×35, 288 → 288)",
    source="paper: Szegedy et al. 2016, Rethinking the Inception Architecture, Fig. 5")
def build_fig5(in_channels: int = 288, b1: int = 64, b2_reduce: int = 48, b2: int = 64,
               b3_reduce: int = 64, b3_mid: int = 96, b3: int = 96, pool_proj: int = 64):
    check_widths("rethinking_fig5", in_channels=in_channels, b1=b1, b2_reduce=b2_reduce, b2=b2,
                 b3_reduce=b3_reduce, b3_mid=b3_mid, b3=b3, pool_proj=pool_proj)
    return InceptionFig5(in_channels, b1, (b2_reduce, b2), (b3_reduce, b3_mid, b3), pool_proj)


@register_variant(
    "rethinking_fig6", kind="module", input_size=(768, 17, 17),
    description="Rethinking Fig. 6 module: n×n factorized into 1×n + n×1 (17×17, 768 → 768)",
    source="paper: Szegedy et al. 2016, Rethinking the Inception Architecture, Fig. 6")
def build_fig6(in_channels: int = 768, n: int = 7, b1: int = 192, c7: int = 160,
               b2: int = 192, b3: int = 192, pool_proj: int = 192):
    """``c7``: width of the 1×1 reductions and inner 1×n / n×1 convs."""
    check_widths("rethinking_fig6", in_channels=in_channels, n=n, b1=b1, c7=c7, b2=b2, b3=b3,
                 pool_proj=pool_proj)
    return InceptionFig6(in_channels, b1, (c7, c7, b2), (c7, c7, c7, c7, b3), pool_proj, n=n)


@register_variant(
    "rethinking_fig7", kind="module", input_size=(1280, 8, 8),
    description="Rethinking Fig. 7 expanded filter bank (8×8, 1280 → 2048)",
    source="paper: Szegedy et al. 2016, Rethinking the Inception Architecture, Fig. 7")
def build_fig7(in_channels: int = 1280, b1: int = 320, b2_reduce: int = 384, b2: int = 384,
               b3_reduce: int = 448, b3_mid: int = 384, b3: int = 384, pool_proj: int = 192):
    """``b2``/``b3``: width of each of the 1×3 and 3×1 outputs (2× per branch)."""
    check_widths("rethinking_fig7", in_channels=in_channels, b1=b1, b2_reduce=b2_reduce, b2=b2,
                 b3_reduce=b3_reduce, b3_mid=b3_mid, b3=b3, pool_proj=pool_proj)
    return InceptionFig7(in_channels, b1, (b2_reduce, b2), (b3_reduce, b3_mid, b3), pool_proj)


@register_variant(
    "grid_reduction_fig10", kind="module", input_size=(288, 35, 35),
    description="Rethinking Fig. 10 efficient grid reduction (35×35×288 → 17×17×768)",
    source="paper: Szegedy et al. 2016, Rethinking the Inception Architecture, Fig. 10")
def build_fig10(in_channels: int = 288, k: int = 64, l: int = 96, m: int = 96,  # noqa: E741
                n: int = 384):
    """Widths in Inception-v4's Reduction-A notation: 3×3/2 ``n``; 1×1 ``k`` → 3×3 ``l``
    → 3×3/2 ``m``; plus the max-pooled input."""
    check_widths("grid_reduction_fig10", in_channels=in_channels, k=k, l=l, m=m, n=n)
    return GridReduction(in_channels, k, l, m, n)
