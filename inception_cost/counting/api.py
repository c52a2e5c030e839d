"""``count(model, input_size=...)``: the public entry point of the engine."""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn

from ..errors import InputTooSmallError, UsageError
from .arguments import check_device, check_flag, check_formulas, check_name
from .engine import ForwardError, OpRecord, run_counted
from .frames import fvcore_blind_frame, layers_frame
from .inputs import make_inputs, tensor_shapes
from .placement import counting_copy, unwrap
from .registry import RegistryError, overrides
from .cost_report import CostReport

_TOO_SMALL = re.compile(r"(too small|Output size is too small|non-positive|negative dimension"
                        r"|Kernel size can't be greater|pad should be|input image .* smaller"
                        r"|Expected .*size.* to be greater|output size .* <= 0|larger than input)",
                        re.IGNORECASE)


def _run(model: nn.Module, args: tuple, kwargs: dict, device: str, convention: str,
         formulas: dict | None = None) -> list[OpRecord]:
    """Count one call of ``model`` on ``device``; the caller's model is never changed."""
    return run_counted(counting_copy(model, device), args, convention, kwargs=kwargs,
                       formulas=formulas)


def smallest_input(model: nn.Module, channels: int, start: int, device: str = "meta",
                   batch: int = 1, limit: int = 4096) -> int | None:
    """Smallest square H=W >= start that gets through every conv/pool of the model."""
    model = counting_copy(unwrap(model), "meta")

    def too_small(s: int) -> bool:
        try:
            run_counted(model, (torch.empty(batch, channels, s, s, device="meta"),))
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


def count(model: nn.Module, input_size: Sequence[int] | None = None, inputs: Any = None,
          device: str = "meta", convention: str = "native", engine: str = "native",
          name: str = "", batch: int | None = None,
          formulas: Mapping[Any, Callable] | None = None, strict: bool = False) -> CostReport:
    """Count params, MACs, FLOPs and activations of ``model`` for one forward pass.

    ``input_size``: the full input shape, batch first (``(8, 3, 224, 224)``,
    ``(4, 16, 100)`` for a Conv1d model); ``batch=N`` prepends N to it.  A 3-tuple
    for a model whose first convolution is a Conv2d is C x H x W at batch 1.
    Without either, a model's ``default_input_size`` (C x H x W, set by ``build`` from
    the registry) is used at batch 1 (or ``batch``).
    ``inputs``: a tensor, a tuple of tensors (positional) or a dict (keyword arguments).
    ``device``: "meta" (default; no memory at any batch) or "cpu"/"cuda" (for models
    whose forward reads tensor values).  The caller's model is never changed.
    ``convention``: "native" (MACs and FLOPs as documented in ``formulas``) or
    "fvcore" (the flops column reproduces ``FlopCountAnalysis(...).total()``).
    ``engine="fvcore"`` runs fvcore itself (on CPU) behind the same report.
    ``formulas``: per-call formulas ``{torch.ops.aten.op: fn}`` (fn: OpCall -> Cost, or an
    :class:`~inception_cost.counting.registry.OpCost`) that add to or override the registry.  ``strict=True``: an op that ran with no
    formula (not pure data movement) is a :class:`UsageError` instead of a 0 row.
    """
    if not isinstance(model, nn.Module):
        raise UsageError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = check_device(device)
    check_name(name)
    check_flag(strict, "strict")
    check_formulas(formulas)
    if engine == "fvcore":
        from .fvcore_engine import count_with_fvcore
        return count_with_fvcore(model, input_size=input_size, inputs=inputs, name=name, batch=batch)
    if engine != "native":
        raise UsageError(f"unknown engine '{engine}' (choose native or fvcore)")
    if convention not in ("native", "fvcore"):
        raise UsageError(f"unknown convention '{convention}' (choose native or fvcore)")
    try:
        extra = overrides(formulas)
    except RegistryError as e:
        raise UsageError(str(e)) from None
    inner = unwrap(model)
    if input_size is None and inputs is None:
        # a zoo model (build()) or a model with default_input_size: its own C x H x W
        input_size = getattr(inner, "default_input_size", None) or getattr(
            model, "default_input_size", None)
    args, kwargs = make_inputs(input_size, inputs, device, batch, inner)
    try:
        with torch.inference_mode(False):
            records = _run(inner, args, kwargs, device, convention, extra)
    except ForwardError as e:
        xs = [a for a in args if isinstance(a, torch.Tensor)]
        if _TOO_SMALL.search(e.original) and len(xs) == 1 and not kwargs and xs[0].dim() == 4:
            x = xs[0]
            best = smallest_input(inner, x.shape[1], int(min(x.shape[2:])), batch=1)
            raise InputTooSmallError(e.module, tuple(x.shape[1:]), best) from None
        if device == "meta" and reads_values(e):
            raise meta_value_error(e) from None
        raise
    if strict:
        _check_strict(records)
    df = layers_frame(inner, records)
    return CostReport(layers=df, model_name=name or type(inner).__name__,
                      input_shapes=tensor_shapes(args, kwargs),
                      convention=convention, engine="native", device=device,
                      fvcore_blind=fvcore_blind_frame(records) if convention == "fvcore" else None)


# messages of a forward that reads tensor values on the meta device (.item(), if x.sum(),
# nonzero, a mask checked by value as transformers does)
META_VALUE_ERRORS = ("meta tensor", "on meta", "meta device", "data-dependent", "data dependent",
                     "meta_nonzero")
META_VALUE_HINT = ("the model's forward reads tensor values, which the meta device does not "
                   "have: device=\"cpu\" runs a real forward (same counts; memory grows with "
                   "the input)")


def reads_values(e: ForwardError) -> bool:
    """Whether a forward failed on the meta device because it read tensor values."""
    return any(k in e.original.lower() for k in META_VALUE_ERRORS)


def meta_value_error(e: ForwardError) -> ForwardError:
    """``e`` as one line that says the forward reads tensor values and that
    ``device="cpu"`` works; ``original`` stays PyTorch's own message (the CLI adds its
    own ``--device cpu`` hint to it)."""
    first = e.original.splitlines()[0] if e.original else ""
    err = ForwardError(e.module, f"{first} — {META_VALUE_HINT}")
    err.original = e.original
    return err


def _check_strict(records: list[OpRecord]) -> None:
    bad = [r for r in records if not r.counted]
    if bad:
        first = bad[0]
        calls = sum(1 for r in bad if r.op == first.op)
        others = sorted({r.op for r in bad} - {first.op})
        more = f" (also uncounted: {', '.join(others)})" if others else ""
        qual = first.qualified or first.op
        raise UsageError(f"op {qual} has no formula ({calls} call(s), first in module "
                         f"'{first.module or '<top>'}'); add one with formulas="
                         f"{{torch.ops.{qual.replace('::', '.')}: fn}}{more}")
