"""Formulas of the contractions beyond mm/bmm: einsum, bilinear (``_trilinear``),
``mv``, ``dot``, ``vdot``, ``outer`` and ``_scaled_mm``.

Units: ``macs`` are multiply-accumulates, ``flops`` floating-point operations.

==========================  ====================================================
einsum                      the contraction PyTorch executes (``aten/native/Linear.cpp``):
                            operands are aligned to output + summed dims, then
                            contracted pairwise, left to right (or along the
                            ``opt_einsum`` path when that backend is enabled and
                            installed).  Each pairwise step that sums a shared index
                            is one bmm: macs = batch * rows * cols * summed size.
                            A step that sums nothing is an elementwise product
                            (0 macs, 1 flop per output element, like ``outer``);
                            an index summed inside one operand is a reduction
                            (0 macs, 1 flop per input element).  flops = 2*macs + those.
                            This is what ``FlopCounterMode`` counts (the bmm calls).
_trilinear (nn.Bilinear)    macs = N * out * in1 * in2 (one MAC per weight element
                            per sample, the bilinear form's usual count);
                            flops = 2*macs
mv, dot, vdot               macs = n*k (mv), n (dot, vdot); flops = 2*macs
outer                       macs = 0 (no accumulation); flops = m*n multiplies
_scaled_mm                  macs = m*k*n (as mm; the scales are per-tensor or
                            per-row factors); flops = 2*macs
linalg_vector_norm          macs = 0; flops = 2 per input element (square or abs,
                            accumulate) + 1 per output element (the root)
==========================  ====================================================

In the fvcore convention einsum is counted as fvcore's handle counts it: the two
bmm-shaped equations ``abc,abd->acd`` and ``abc,adc->adb`` by hand, every other
equation as half of ``numpy.einsum_path(..., optimize="optimal")``'s flop count.
fvcore has no handle for the other ops here, so they cost 0 in that convention.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .registry import Cost, OpCall, register

aten = torch.ops.aten

_ELL = "..."


def _prod(xs) -> int:
    return int(math.prod(int(x) for x in xs))


# --------------------------------------------------------------------------- #
# einsum: parse, align, contract (pure shape arithmetic)
# --------------------------------------------------------------------------- #
def _tokens(term: str) -> list[str]:
    out, i = [], 0
    while i < len(term):
        if term[i] == ".":
            out.append(_ELL)
            i += 3
        else:
            out.append(term[i])
            i += 1
    return out


def _align(equation: str, shapes: Sequence[Sequence[int]]):
    """Operands as {dim: size} over PyTorch's permuted layout: output dims first
    (``...`` expanded to one dim per broadcast position), then summed dims.

    Returns (dims, out_size, operands); missing dims have size 1 (broadcast)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    labels = [_tokens(t) for t in lhs.split(",")]
    if len(labels) != len(shapes):
        raise ValueError(f"einsum '{equation}': {len(labels)} terms for {len(shapes)} operands")
    ell, counts = 0, {}
    for labs, shape in zip(labels, shapes):
        named = [c for c in labs if c != _ELL]
        if _ELL in labs:
            ell = max(ell, len(shape) - len(named))
        for c in named:
            counts[c] = counts.get(c, 0) + 1
    out = _tokens(rhs) if arrow else [_ELL] + sorted(c for c, n in counts.items() if n == 1)
    dims: list = []
    for c in out:
        dims += [(_ELL, k) for k in range(ell)] if c == _ELL else [c]
    out_size = len(dims)
    if _ELL not in out:
        dims += [(_ELL, k) for k in range(ell)]
    dims += sorted(c for c in counts if c not in dims)
    operands = []
    for labs, shape in zip(labels, shapes):
        sizes = {d: 1 for d in dims}
        n_named = len([c for c in labs if c != _ELL])
        j = 0
        for c in labs:
            if c == _ELL:
                m = len(shape) - n_named
                for k in range(m):
                    sizes[(_ELL, ell - m + k)] = int(shape[j + k])
                j += m
            else:                       # a repeated letter is a diagonal: same size
                sizes[c] = int(shape[j])
                j += 1
        operands.append(sizes)
    return dims, out_size, operands


@dataclass(frozen=True)
class EinsumCost:
    """Work of one einsum: ``macs`` of its bmm steps, ``products`` elements written by
    elementwise (no-sum) steps, ``reductions`` elements read by in-operand sums."""

    macs: int
    products: int
    reductions: int

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.products + self.reductions


def _pair(a: dict, b: dict, summed: list) -> tuple[int, int, int, dict]:
    """One pairwise step (``sumproduct_pair``): (macs, products, reductions, result)."""
    if not summed:
        res = {d: max(a.get(d, 1), b.get(d, 1)) for d in {**a, **b}}
        return 0, _prod(res.values()), 0, res
    summed_sizes, res = [], {}
    for d in {**a, **b}:
        size = max(a.get(d, 1), b.get(d, 1))
        if d in summed:
            summed_sizes.append(size)
        else:
            res[d] = size
    return _prod(summed_sizes) * _prod(res.values()), 0, 0, res


def einsum_cost(equation: str, shapes: Sequence[Sequence[int]],
                path: Sequence[int] | None = None) -> EinsumCost:
    """Work of ``torch.einsum(equation, *operands)`` for operands of ``shapes``.

    ``path`` (flattened pairs of operand positions, as ``torch._VF.einsum`` takes it)
    selects opt_einsum's contraction order; ``None`` contracts left to right."""
    dims, out_size, ops = _align(equation, shapes)
    summed_dims = dims[out_size:]
    if path is not None and len(ops) > 2:
        return _einsum_path_cost(dims, out_size, ops, list(path))
    last = {d: 0 for d in dims}
    for i, op in enumerate(ops):
        for d in dims:
            if op[d] != 1:
                last[d] = i
    macs = products = reductions = 0
    result = dict(ops[0])
    for d in summed_dims:             # summed dims no later operand has: reduce or squeeze
        if last[d] == 0:
            if result[d] != 1:
                reductions += _prod(result.values())
            del result[d]
    for i in range(1, len(ops)):
        operand = dict(ops[i])
        summed = []
        for d in summed_dims:
            if last[d] < i:
                operand.pop(d, None)
            elif last[d] == i:
                if result[d] == 1:
                    reductions += _prod(operand.values())
                    del operand[d]
                    del result[d]
                else:
                    summed.append(d)
        m, p, r, result = _pair(result, operand, summed)
        macs, products, reductions = macs + m, products + p, reductions + r
    return EinsumCost(macs, products, reductions)


def _einsum_path_cost(dims, out_size, ops, path) -> EinsumCost:
    """Pairwise contraction along an opt_einsum path: each step takes operands
    ``path[2s], path[2s+1]`` off the list, sums the dims no other remaining operand
    (nor the output) has, and appends the product at the end."""
    out_dims = set(dims[:out_size])
    ops = [{d: s for d, s in op.items() if s != 1 or d in out_dims} for op in ops]
    macs = products = reductions = 0
    for s in range(0, len(path), 2):
        i, j = sorted((path[s], path[s + 1]))
        b, a = ops.pop(j), ops.pop(i)
        rest = [d for op in ops for d, size in op.items() if size != 1]
        keep = out_dims | set(rest)
        for x, y in ((a, b), (b, a)):       # dims only one side has and nobody needs
            only = [d for d in x if d not in keep and y.get(d, 1) == 1 and x[d] != 1]
            if only:
                reductions += _prod(x.values())
                for d in only:
                    del x[d]
        summed = [d for d in a if d in b and d not in keep and a[d] != 1 and b[d] != 1]
        m, p, r, res = _pair(a, b, summed)
        res = {d: v for d, v in res.items() if d in keep or v != 1}
        macs, products, reductions = macs + m, products + p, reductions + r
        ops.append(res)
    return EinsumCost(macs, products, reductions)


def torch_einsum_path(equation: str, shapes: Sequence[Sequence[int]]) -> list[int] | None:
    """The flattened contraction path ``torch.einsum`` passes to C++: ``None`` (left to
    right) unless there are 3+ operands and the opt_einsum backend is enabled and installed."""
    backend = torch.backends.opt_einsum
    if len(shapes) <= 2 or not backend.enabled or not backend.is_available():
        return None
    opt = backend.get_opt_einsum()
    pairs = opt.contract_path(equation, *shapes, shapes=True, optimize=backend.strategy)[0]
    return [int(x) for pair in pairs for x in pair]


def einsum_macs(equation: str, shapes: Sequence[Sequence[int]]) -> int:
    """MACs of ``torch.einsum(equation, *operands)`` as PyTorch executes it (its pairwise
    bmm steps; see :func:`einsum_cost`)."""
    return einsum_cost(equation, shapes, torch_einsum_path(equation, shapes)).macs


def fvcore_einsum_macs(equation: str, shapes: Sequence[Sequence[int]]) -> int:
    """fvcore's einsum count (one "flop" per MAC): two bmm-shaped equations by hand,
    otherwise half of numpy's optimal-path flop count, floored."""
    import numpy as np

    eq = equation.replace(" ", "")
    order = {}
    for c in eq:
        if c.isalpha():
            order.setdefault(c, chr(97 + len(order)))
    canon = "".join(order.get(c, c) for c in eq)
    if canon == "abc,abd->acd":
        n, c, t = shapes[0]
        return int(n * c * t * shapes[-1][-1])
    if canon == "abc,adc->adb":
        n, t, g = shapes[0]
        return int(n * t * g * shapes[-1][1])
    arrays = [np.broadcast_to(np.zeros(()), tuple(int(x) for x in s)) for s in shapes]
    text = np.einsum_path(canon, *arrays, optimize="optimal")[1]
    for line in text.split("\n"):
        if "optimized flop" in line.lower():
            return int(math.floor(float(line.split(":")[-1]) / 2))
    raise ValueError(f"numpy could not plan einsum '{equation}'")


def _einsum_operands(call: OpCall) -> tuple[str, list]:
    equation = call.args[0]
    shapes = [s for s in call.in_shapes[1:] if s is not None]
    if not shapes and len(call.args) > 1 and isinstance(call.args[1], (list, tuple)):
        # aten.einsum(equation, [tensors]) called directly
        shapes = [tuple(int(d) for d in (t.shape if isinstance(t, torch.Tensor) else t))
                  for t in call.args[1]]
    return equation, shapes


@register(aten.einsum)
def _einsum(call: OpCall) -> Cost:
    equation, shapes = _einsum_operands(call)
    path = call.kwargs.get("path") or torch_einsum_path(equation, shapes)
    cost = einsum_cost(equation, shapes, path)
    return Cost(cost.macs, cost.flops)


@register(aten.einsum, convention="fvcore")
def _fv_einsum(call: OpCall) -> Cost:
    equation, shapes = _einsum_operands(call)
    m = fvcore_einsum_macs(equation, shapes)
    return Cost(m, m)


# --------------------------------------------------------------------------- #
# bilinear, vector products, scaled mm
# --------------------------------------------------------------------------- #
def trilinear_macs(shapes: Sequence[Sequence[int]], expands: Sequence[Sequence[int]]) -> int:
    """MACs of ``aten._trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim)``: the
    product of every dim's size once the three operands are aligned (each point of
    the output-and-summed index space costs one MAC).  nn.Bilinear: N*out*in1*in2."""
    total = len(shapes[0]) + len(expands[0])
    aligned = []
    for shape, expand in zip(shapes, expands):
        it = iter(shape)
        aligned.append([1 if d in set(int(e) for e in expand) else int(next(it)) for d in range(total)])
    return _prod(max(col) for col in zip(*aligned))


@register(aten._trilinear)
def _trilinear(call: OpCall) -> Cost:
    shapes = call.in_shapes[:3]
    expands = [call.args[3], call.args[4], call.args[5]]
    macs = trilinear_macs(shapes, expands)
    return Cost(macs, 2 * macs)


@register(aten.mv)
def _mv(call: OpCall) -> Cost:
    n, k = call.in_shapes[0]
    return Cost(n * k, 2 * n * k)


@register(aten.dot, aten.vdot)
def _dot(call: OpCall) -> Cost:
    n = _prod(call.in_shapes[0])
    return Cost(n, 2 * n)


@register(aten.outer)
def _outer(call: OpCall) -> Cost:
    return Cost(0, _prod(call.in_shapes[0]) * _prod(call.in_shapes[1]))


@register(aten._scaled_mm)
def _scaled_mm(call: OpCall) -> Cost:
    (m, k), (_, n) = call.in_shapes[0], call.in_shapes[1]
    return Cost(m * k * n, 2 * m * k * n)


@register(aten.linalg_vector_norm)
def _vector_norm(call: OpCall) -> Cost:
    out = _prod(call.out_shapes[0]) if call.out_shapes else 1
    return Cost(0, 2 * _prod(call.in_shapes[0]) + out)
