"""Records -> the per-layer DataFrame of a :class:`CostReport` (shared by every engine).

Shape columns (``in_shape``, ``weight_shape``, ``out_shape``, ``kernel``, ``stride``,
``padding``, ``dilation``) hold integer tuples or ``None``; renderers format them.
Count columns (params, macs, flops, activations, bytes: elements / MACs / FLOPs /
elements / bytes moved) are exact:
``int64`` when the column's total fits in int64, Python integers (object dtype)
otherwise, so no sum can wrap.
"""
from __future__ import annotations

import pandas as pd
import torch.nn as nn

from .engine import OpRecord
from .cost_report import COUNT_COLUMNS, LAYER_COLUMNS

INT64_MAX = 2 ** 63 - 1
_RECORD_COLUMNS = [c for c in LAYER_COLUMNS if c != "params"]


def params_by_module(model: nn.Module) -> dict[str, int]:
    """{module path: parameter elements it owns}; a shared parameter counts once, at its first owner."""
    owner: dict[str, int] = {}
    seen: set[int] = set()
    for mname, mod in model.named_modules():
        n = 0
        for p in mod._parameters.values():        # mod.parameters(recurse=False), unwrapped
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            n += p.numel()
        if n:
            owner[mname] = n
    return owner


def fvcore_blind_frame(records: list[OpRecord]) -> pd.DataFrame:
    """One row per op fvcore skips (fvcore convention): op, module, macs (native MACs it
    does not count), in call order."""
    calls: dict[int, dict] = {}
    for r in records:
        if r.blind:
            c = calls.setdefault(r.blind, {"op": r.blind_op, "module": r.module, "macs": 0})
            c["macs"] += r.blind_macs
    df = pd.DataFrame(list(calls.values()), columns=["op", "module", "macs"])
    df["macs"] = pd.Series([int(v) for v in df["macs"]], index=df.index, dtype=object)
    return df


def exact_counts(df: pd.DataFrame, columns=COUNT_COLUMNS) -> pd.DataFrame:
    """Make count columns exact: int64 where the column total fits, Python ints otherwise."""
    for c in columns:
        vals = [int(v) for v in df[c]]
        if vals and (sum(vals) > INT64_MAX or min(vals) < -INT64_MAX):
            df[c] = pd.Series(vals, index=df.index, dtype=object)
        else:
            df[c] = pd.Series(vals, index=df.index, dtype="int64")
    return df


def layers_frame(model: nn.Module, records: list[OpRecord]) -> pd.DataFrame:
    """One row per record plus a "params" row for each parameter owner that ran no op;
    each owner's parameter elements go on its first row."""
    rows = [{c: getattr(r, c) for c in _RECORD_COLUMNS} | {"params": 0} for r in records]
    first_row: dict[str, int] = {}
    for i, r in enumerate(rows):
        first_row.setdefault(r["module"], i)
    types = {n: type(m).__name__ for n, m in model.named_modules()}
    for mname, n in params_by_module(model).items():
        if mname in first_row:
            rows[first_row[mname]]["params"] += n
        else:
            rows.append(dict(module=mname, module_type=types[mname], op="params", counted=True,
                             inplace=False, in_shape=None, weight_shape=None, out_shape=None,
                             kernel=None, stride=None, padding=None, dilation=None, groups=None,
                             macs=0, flops=0, activations=0, bytes=0, params=n, depth=0,
                             phase="forward",
                             callers=()))
    df = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    df["groups"] = pd.Series([r["groups"] for r in rows], index=df.index, dtype=object)
    df["depth"] = df["depth"].astype("int64")
    return exact_counts(df)
