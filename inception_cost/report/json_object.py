"""The JSON object that every command's ``--format json`` writes.

One envelope for every command: ``model`` (the label, or a list of labels for a command
that takes several), ``input`` (one ``{name, shape, dtype}`` per forward argument: ``name``
null for a positional argument, ``shape`` in elements), ``convention`` where counts follow
one (``native`` or ``fvcore``), the command's own settings, ``totals`` (exact integers:
params and activations in elements, MACs, FLOPs, bytes) and ``rows`` (null for a command
without rows). Keys that do not apply are null, never missing.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable

import pandas as pd

ENVELOPE_KEYS = ("model", "input", "totals", "rows")
"""Keys every command's JSON object has (``convention`` too where counts follow one)."""


def plain(v: Any) -> Any:
    """A JSON-ready scalar: numpy/torch scalars as Python values, NaN and infinity as None."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, tuple)):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def rows_of(df: pd.DataFrame | None) -> list[dict] | None:
    """``df``'s rows as dicts of plain values (exact Python ints stay ints)."""
    if df is None:
        return None
    return [{str(k): plain(v) for k, v in r.items()} for r in df.to_dict(orient="records")]


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def input_entry(name: str | None, shape: Iterable[int], dtype: Any = "float32") -> dict:
    """One forward argument: ``{name, shape, dtype}`` (shape as Python ints)."""
    return {"name": name, "shape": [int(v) for v in shape], "dtype": _dtype_name(dtype)}


def tensor_inputs(args: Iterable = (), kwargs: dict | None = None) -> list[dict]:
    """The input list of a forward call's positional and keyword tensors."""
    kwargs = kwargs or {}
    return [input_entry(None, t.shape, t.dtype) for t in args] + \
        [input_entry(k, t.shape, t.dtype) for k, t in kwargs.items()]


def call_inputs(call) -> list[dict]:
    """The input list of a CLI :class:`~inception_cost.cli.input_option.Call`."""
    return tensor_inputs(call.args, call.kwargs)


def exact_totals(totals: dict | None) -> dict | None:
    """Totals as exact Python ints (a float count is a bug: TypeError, never rounded)."""
    if totals is None:
        return None
    out = {}
    for k, v in totals.items():
        v = plain(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"total '{k}' is {v!r}, not an exact integer")
        out[str(k)] = v
    return out


def json_object(model: Any, inputs: list[dict] | None, totals: dict | None,
                rows: list[dict] | None, convention: str | None = None, **fields: Any) -> dict:
    """The envelope, keys in reading order: model, input, convention (only where given),
    the command's settings (``fields``, in the order given), totals, rows."""
    obj: dict[str, Any] = {"model": model, "input": inputs}
    if convention is not None:
        obj["convention"] = convention
    obj.update(fields)
    obj["totals"] = exact_totals(totals)
    obj["rows"] = rows
    return obj


def dumps(obj: dict, ascii_only: bool = True) -> str:
    """The object as indented JSON text ending in a newline."""
    return json.dumps(obj, indent=2, ensure_ascii=ascii_only) + "\n"


def with_envelope(obj: dict, inputs: list[dict] | None, totals: dict | None = None,
                  rows: list[dict] | None = None, convention: str | None = None,
                  model: Any = None) -> dict:
    """An object a command already wrote (its keys and values kept) with the envelope's
    keys it lacks: ``model`` (``obj``'s own when it has one), ``input``, ``convention``
    (where given), ``totals`` and ``rows`` (each only where ``obj`` has none)."""
    out: dict[str, Any] = {"model": obj.get("model", model), "input": obj.get("input", inputs)}
    if convention is not None or "convention" in obj:
        out["convention"] = obj.get("convention", convention)
    out.update({k: v for k, v in obj.items() if k not in out})
    if "totals" not in obj:
        out["totals"] = exact_totals(totals)
    if "rows" not in obj:
        out["rows"] = rows
    return out
