"""``count(model, input_size=...)``: the public entry point of the engine."""
from __future__ import annotations

import re
from typing import Sequence

import pandas as pd
import torch
import torch.nn as nn
from torch.func import functional_call

from ..errors import InputTooSmallError, UsageError
from .engine import ForwardError, OpRecord, run_counted
from .report import LAYER_COLUMNS, CostReport, fmt_shape

_TOO_SMALL = re.compile(r"(too small|Output size is too small|non-positive|negative dimension"
                        r"|Kernel size can't be greater|pad should be|input image .* smaller"
                        r"|Expected .*size.* to be greater|output size .* <= 0|larger than input)",
                        re.IGNORECASE)


def _make_inputs(input_size, inputs, device: str) -> tuple:
    if inputs is not None:
        if isinstance(inputs, torch.Tensor):
            inputs = (inputs,)
        return tuple(_to_device(t, device) for t in inputs)
    if input_size is None:
        raise UsageError("give input_size=(N, C, H, W) or inputs=")
    size = tuple(int(s) for s in input_size)
    if len(size) == 3:
        size = (1, *size)
    if any(s <= 0 for s in size):
        raise UsageError(f"input size must be positive, got {'x'.join(map(str, size))}")
    if device == "meta":
        return (torch.empty(size, device="meta"),)
    g = torch.Generator().manual_seed(0)
    return (torch.randn(size, generator=g).to(device),)


def _to_device(t, device: str):
    if not isinstance(t, torch.Tensor):
        return t
    if device == "meta":
        return torch.empty_like(t, device="meta")
    return t.to(device)


def _model_device_ok(model: nn.Module, device: str) -> bool:
    tensors = list(model.parameters()) + list(model.buffers())
    return all(t.device.type == torch.device(device).type for t in tensors)


def _run(model: nn.Module, inputs: tuple, device: str, convention: str) -> list[OpRecord]:
    if _model_device_ok(model, device):
        return run_counted(model, inputs, convention)
    state = {n: _to_device(t, device) for n, t in model.named_parameters()}
    state.update({n: _to_device(t, device) for n, t in model.named_buffers()})

    def call(*xs):
        return functional_call(model, state, xs)

    wrapper = _Wrapped(model, call)
    return run_counted(wrapper, inputs, convention)


class _Wrapped:
    """Callable with ``named_modules`` of the real model (for attribution)."""

    def __init__(self, model, fn):
        self.model, self.fn = model, fn

    def named_modules(self):
        return self.model.named_modules()

    def __call__(self, *xs):
        return self.fn(*xs)


def _attach_params(model: nn.Module, records: list[OpRecord]) -> pd.DataFrame:
    rows = [dict(r.__dict__) for r in records]
    for r in rows:
        r["params"] = 0
    owner: dict[str, int] = {}
    seen: set[int] = set()
    for mname, mod in model.named_modules():
        n = 0
        for p in mod.parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            n += p.numel()
        if n:
            owner[mname] = n
    first_row: dict[str, int] = {}
    for i, r in enumerate(rows):
        first_row.setdefault(r["module"], i)
    types = {n: type(m).__name__ for n, m in model.named_modules()}
    for mname, n in owner.items():
        if mname in first_row:
            rows[first_row[mname]]["params"] += n
        else:
            rows.append(dict(module=mname, module_type=types[mname], op="params", counted=True,
                             inplace=False, in_shape=None, weight_shape=None, out_shape=None,
                             kernel=None, stride=None, padding=None, dilation=None, groups=None,
                             macs=0, flops=0, activations=0, params=n, depth=0))
    df = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    for c in ("in_shape", "weight_shape", "out_shape", "kernel", "stride", "padding", "dilation"):
        df[c] = df[c].map(fmt_shape)
    df["groups"] = df["groups"].map(lambda g: "" if g is None or pd.isna(g) else str(int(g)))
    for c in ("params", "macs", "flops", "activations", "depth"):
        df[c] = df[c].astype("int64")
    return df


def smallest_input(model: nn.Module, channels: int, start: int, device: str = "meta",
                   batch: int = 1, limit: int = 4096) -> int | None:
    """Smallest square H=W >= start that gets through every conv/pool of the model."""
    def too_small(s: int) -> bool:
        try:
            _run(model, (torch.empty(batch, channels, s, s, device="meta"),), "meta", "native")
            return False
        except ForwardError as e:
            return bool(_TOO_SMALL.search(e.original))
    lo, hi = start, max(start + 1, 8)
    while too_small(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if too_small(mid):
            lo = mid
        else:
            hi = mid
    return hi


def count(model: nn.Module, input_size: Sequence[int] | None = None, inputs=None,
          device: str = "meta", convention: str = "native", engine: str = "native",
          name: str = "") -> CostReport:
    """Count params, MACs, FLOPs and activations of ``model`` for one forward pass.

    ``input_size`` is (N, C, H, W) (or (C, H, W) for batch 1); ``inputs`` a tensor
    or tuple of tensors.  ``device="meta"`` (default) costs no memory at any batch.
    ``convention``: "native" (MACs and FLOPs as documented in ``formulas``) or
    "fvcore" (the flops column reproduces ``FlopCountAnalysis(...).total()``).
    ``engine="fvcore"`` runs fvcore itself (on CPU) behind the same report.
    """
    if engine == "fvcore":
        from .fvcore_engine import count_with_fvcore
        return count_with_fvcore(model, input_size=input_size, inputs=inputs, name=name)
    if engine != "native":
        raise UsageError(f"unknown engine '{engine}' (choose native or fvcore)")
    if convention not in ("native", "fvcore"):
        raise UsageError(f"unknown convention '{convention}' (choose native or fvcore)")
    xs = _make_inputs(input_size, inputs, device)
    try:
        records = _run(model, xs, device, convention)
    except ForwardError as e:
        if _TOO_SMALL.search(e.original) and len(xs) == 1 and xs[0].dim() == 4:
            x = xs[0]
            best = smallest_input(model, x.shape[1], int(min(x.shape[2:])), batch=1)
            raise InputTooSmallError(e.module, tuple(x.shape[1:]), best) from None
        raise
    df = _attach_params(model, records)
    return CostReport(layers=df, model_name=name or type(model).__name__,
                      input_shapes=[tuple(x.shape) for x in xs if isinstance(x, torch.Tensor)],
                      convention=convention, engine="native", device=device)
