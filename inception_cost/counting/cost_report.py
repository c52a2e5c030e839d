"""CostReport: the plain data every renderer reads.

``layers`` has one row per executed op (plus one "params" row for each module
that owns parameters but executed no op, so the params column always sums to
``sum(p.numel() for p in model.parameters())``).
Units: params (elements), macs (multiply-accumulates), flops (floating-point
operations, see :mod:`inception_cost.counting.formulas`), activations (elements),
bytes (bytes moved: every tensor an op reads and writes, at its dtype's size, broadcast
dimensions once, views and allocations 0 -- see :mod:`inception_cost.counting.bytes_moved`;
a composite row such as ``linear`` holds the bytes of the aten ops it runs, and a fill
or copy that is no row of its own goes with the next row).

Shape columns hold integer tuples (or ``None``); :func:`format_shapes` turns them
into ``1x64x112x112`` text for renderers.  Count columns are exact integers
(int64, or Python ints when a total would not fit in int64); totals are Python ints.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

LAYER_COLUMNS = [
    "module", "module_type", "op", "kernel", "stride", "padding", "dilation", "groups",
    "in_shape", "weight_shape", "out_shape", "params", "macs", "flops", "activations", "bytes",
    "inplace", "counted", "depth", "phase", "callers",
]
NUMERIC = ["params", "macs", "flops", "activations", "bytes"]
COUNT_COLUMNS = NUMERIC
SHAPE_COLUMNS = ["kernel", "stride", "padding", "dilation", "in_shape", "weight_shape", "out_shape"]


def fmt_shape(shape) -> str:
    """(1, 64, 112, 112) -> '1x64x112x112'; None -> ''; text is returned as is."""
    if shape is None or (isinstance(shape, float) and shape != shape):
        return ""
    if isinstance(shape, str):
        return shape
    if isinstance(shape, (tuple, list)):
        return "x".join(str(int(s)) for s in shape)
    return str(int(shape))


def format_shapes(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with its shape columns (and ``groups``) as text, for rendering."""
    cols = [c for c in SHAPE_COLUMNS if c in df.columns]
    if not cols and "groups" not in df.columns:
        return df
    out = df.copy()
    for c in cols:
        out[c] = out[c].map(fmt_shape)
    if "groups" in out.columns:
        out["groups"] = out["groups"].map(fmt_shape)
    return out


def _exact_sum(values) -> int:
    return sum(int(v) for v in values)


@dataclass
class CostReport:
    layers: pd.DataFrame
    model_name: str = ""
    input_shapes: list = field(default_factory=list)
    convention: str = "native"
    engine: str = "native"
    device: str = "meta"
    fvcore_blind: pd.DataFrame | None = None
    """fvcore convention: one row per op fvcore skips (op, module, macs = the native MACs it
    does not count); ``None`` in the native convention."""

    def fvcore_blind_line(self) -> str:
        """'fvcore does not count: N MACs in M ops (lstm x1, ...)' ('' when nothing is skipped)."""
        df = self.fvcore_blind
        if df is None or df.empty:
            return ""
        n = _exact_sum(df["macs"])
        per = df.groupby("op", sort=False).size()
        ops = ", ".join(f"{op} x{int(c)}" for op, c in per.items())
        return f"fvcore does not count: {n:,} MACs in {len(df)} ops ({ops})"

    # totals --------------------------------------------------------------
    @property
    def total_params(self) -> int:
        return _exact_sum(self.layers["params"])

    @property
    def total_macs(self) -> int:
        return _exact_sum(self.layers["macs"])

    @property
    def total_flops(self) -> int:
        return _exact_sum(self.layers["flops"])

    @property
    def total_activations(self) -> int:
        return _exact_sum(self.layers["activations"])

    @property
    def total_bytes(self) -> int:
        """Bytes moved by the whole forward (read + written, every op)."""
        return _exact_sum(self.layers["bytes"])

    @property
    def flop_per_byte(self) -> float:
        """Arithmetic intensity of the whole forward: FLOPs per byte moved (NaN for 0 bytes)."""
        b = self.total_bytes
        return self.total_flops / b if b else float("nan")

    @property
    def depth(self) -> int:
        """Weight layers (conv/linear) on the longest input-to-output path."""
        return int(self.layers["depth"].max()) if len(self.layers) else 0

    @property
    def uncounted_ops(self) -> list[str]:
        """aten ops that ran but have no formula (counted as 0)."""
        return sorted(set(self.layers.loc[~self.layers["counted"].astype(bool), "op"]))

    @property
    def uncounted(self) -> pd.DataFrame:
        """One row per (op, module) that ran with no formula: columns op, module, calls.
        Pure data movement and views are not listed (they cost nothing)."""
        df = self.layers.loc[~self.layers["counted"].astype(bool), ["op", "module"]]
        if df.empty:
            return pd.DataFrame(columns=["op", "module", "calls"])
        out = df.groupby(["op", "module"], sort=False).size().rename("calls").reset_index()
        return out.astype({"calls": "int64"})

    def __str__(self) -> str:
        """A short readable summary (exact integers and their human form)."""
        from ..report.summary_text import cost_text
        return cost_text(self)

    def _repr_html_(self) -> str:
        from ..report.summary_text import as_html
        return as_html(str(self))

    def totals(self) -> dict[str, int]:
        return {"params": self.total_params, "macs": self.total_macs,
                "flops": self.total_flops, "activations": self.total_activations,
                "bytes": self.total_bytes}

    # aggregation ---------------------------------------------------------
    def by_module(self, depth: int | None = None, mode: str = "owner") -> pd.DataFrame:
        """Hierarchical totals. ``depth=k``: one row per module path truncated to
        k components (top-level ops land in ''); ``depth=None``: every module
        prefix, a parent being the sum of its own ops and its children's, like
        fvcore's ``by_module()``. Never double counts: each op is in exactly one
        row at a given depth.

        ``mode="owner"`` (default; fvcore's ``ancestor_mode("owner")``): an op belongs to
        the module that ran it (a shared module's first name) and to every prefix of
        that path.  ``mode="caller"`` (fvcore's ``ancestor_mode("caller")``): an op
        belongs to every module whose forward was running when it ran (so each caller
        of a shared module gets the work it called), and to '' once; params stay with
        their owners as in "owner" mode."""
        if mode not in ("owner", "caller"):
            raise ValueError(f"unknown mode '{mode}' (choose owner or caller)")
        df = self.layers
        if mode == "caller":
            if depth is not None:
                raise ValueError("mode='caller' takes no depth")
            return self._by_caller()
        if depth is not None:
            if depth < 0:
                raise ValueError("depth must be >= 0")
            key = df["module"].map(lambda m: ".".join(m.split(".")[:depth]) if m else "")
            out = df.groupby(key, sort=False)[NUMERIC].sum()
            out.index.name = "module"
            return out.reset_index()
        acc: dict[str, list[int]] = {}
        for mod, vals in zip(df["module"], df[NUMERIC].itertuples(index=False)):
            parts = mod.split(".") if mod else []
            for i in range(len(parts) + 1):
                p = ".".join(parts[:i])
                a = acc.setdefault(p, [0] * len(NUMERIC))
                for j, v in enumerate(vals):
                    a[j] += int(v)
        out = pd.DataFrame([[k, *v] for k, v in acc.items()], columns=["module", *NUMERIC])
        return out

    def _by_caller(self) -> pd.DataFrame:
        df = self.layers
        owner = self.by_module().set_index("module")["params"]
        cols = ["macs", "flops", "activations", "bytes"]
        acc: dict[str, list[int]] = {"": [0] * len(cols)}
        callers = df["callers"] if "callers" in df.columns else [()] * len(df)
        for chain, vals in zip(callers, df[cols].itertuples(index=False)):
            for name in ("", *[c for c in (chain or ()) if c]):
                a = acc.setdefault(name, [0] * len(cols))
                for j, v in enumerate(vals):
                    a[j] += int(v)
        rows = [[k, int(owner.get(k, 0)), *v] for k, v in acc.items()]
        return pd.DataFrame(rows, columns=["module", *NUMERIC])

    def by_op(self) -> pd.DataFrame:
        out = self.layers.groupby("op", sort=False)[NUMERIC].sum()
        out["count"] = self.layers.groupby("op", sort=False).size()
        return out.sort_values("flops", ascending=False).reset_index()

    def module_totals(self) -> dict[str, int]:
        """{module path: flops} for every prefix (fvcore ``by_module`` shape)."""
        bm = self.by_module()
        return dict(zip(bm["module"], bm["flops"].astype(int)))

    def summary(self) -> dict:
        return {"model": self.model_name, "input": [list(s) for s in self.input_shapes],
                "convention": self.convention, "engine": self.engine, **self.totals()}
