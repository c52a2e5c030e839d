"""The module tree of a counted model: one row per module down to a depth, like fvcore's
``flop_count_table`` or torchinfo's summary.

Each row: the module's path and depth (0: the model itself), its class, the shape of
its output (the first call's; recorded by a forward hook in a forward of the same
inputs), its parameters (elements: ``sum(p.numel())`` over the module and its
submodules, a parameter shared inside it counted once) and the MACs and FLOPs of every
op it ran with its submodules (from the count: ``CostReport.by_module()``, owner mode).
Modules that run no op (``Flatten``, ``Dropout`` in eval) still have a row.
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn as nn

from .placement import copy_on

TREE_COLUMNS = ["module", "depth", "type", "out_shape", "params", "macs", "flops"]


def _shape(out) -> tuple | None:
    """The output's shape: a tensor's, or the first tensor's in a tuple, list or dict."""
    if isinstance(out, torch.Tensor):
        return tuple(int(v) for v in out.shape)
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for o in out:
            s = _shape(o)
            if s is not None:
                return s
    return None


def output_shapes(model: nn.Module, args: tuple, kwargs: dict, device: str = "meta"
                  ) -> dict[str, tuple]:
    """{module path: output shape of its first call} from one eval forward of a copy of
    ``model`` on ``device`` (meta: no memory; the inputs must be on ``device``)."""
    work = copy_on(model, "meta") if device == "meta" else model
    shapes: dict[str, tuple] = {}
    handles = []

    def hook(name):
        def record(_mod, _inp, out):
            if name not in shapes:
                s = _shape(out)
                if s is not None:
                    shapes[name] = s
        return record

    for name, mod in work.named_modules():
        handles.append(mod.register_forward_hook(hook(name)))
    was_training = work.training
    work.eval()
    try:
        with torch.no_grad():
            work(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        work.train(was_training)
    return shapes


def module_tree(model: nn.Module, report, max_depth: int,
                shapes: dict[str, tuple] | None = None) -> pd.DataFrame:
    """Rows of :data:`TREE_COLUMNS` for every module of ``model`` at depth <= ``max_depth``
    in definition order (a module reachable under two names: its first). ``report``: the
    :class:`~inception_cost.counting.cost_report.CostReport` of ``model``; params in elements,
    macs in MACs, flops in FLOPs of the report's convention."""
    costs = report.by_module().set_index("module")
    shapes = shapes or {}
    rows = []
    for name, mod in model.named_modules():
        depth = len(name.split(".")) if name else 0
        if depth > max_depth:
            continue
        params = sum(p.numel() for p in mod.parameters())
        macs = int(costs.at[name, "macs"]) if name in costs.index else 0
        flops = int(costs.at[name, "flops"]) if name in costs.index else 0
        rows.append({"module": name, "depth": depth, "type": type(mod).__name__,
                     "out_shape": shapes.get(name), "params": int(params), "macs": macs,
                     "flops": flops})
    return pd.DataFrame(rows, columns=TREE_COLUMNS)
