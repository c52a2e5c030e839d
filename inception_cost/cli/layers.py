"""``inception-cost layers MODEL``: one row per op (or per module with --depth)."""
from __future__ import annotations

import click
import pandas as pd

from ..counting import count
from ..counting.engine import ForwardError
from ..counting.report import format_shapes
from ..errors import UsageError
from ..models.resolve import resolve_model
from ..report.render import render, write_output
from .options import format_option, output_option, parse_chw

UNITS = {"params": "params", "macs": "MACs", "flops": "FLOPs", "activations": "elements"}
SHOWN = ["module", "op", "kernel", "stride", "in_shape", "out_shape", "params", "macs", "flops",
         "activations"]


def layers_table(report, depth: int | None, fmt: str) -> pd.DataFrame:
    """The table `layers` prints: ops (or modules at --depth) plus % and totals."""
    if depth is not None:
        df = report.by_module(depth=depth)
    else:
        df = report.layers.drop(columns=["callers"]) if fmt in ("csv", "json") else report.layers[SHOWN]
        df = format_shapes(df)
    total = report.total_flops or 1
    if fmt in ("rich", "md"):
        df = df.copy()
        df["% flops"] = (100.0 * df["flops"] / total).map(lambda v: f"{v:.2f}")
        tot = {c: "" for c in df.columns}
        tot.update({"module": "TOTAL", **report.totals(), "% flops": "100.00"})
        df = pd.concat([df, pd.DataFrame([tot])], ignore_index=True)
    return df


def uncounted_notes(report) -> list[str]:
    """One note listing every op that ran with no formula (counted 0), with calls and modules;
    and, in the fvcore convention, the work fvcore does not count."""
    notes = []
    unc = report.uncounted
    if len(unc):
        parts = []
        for op, grp in unc.groupby("op", sort=False):
            mods = ", ".join(m or "<top>" for m in grp["module"][:3]) + (", ..." if len(grp) > 3 else "")
            parts.append(f"{op} x{int(grp['calls'].sum())} (in {mods})")
        notes.append("ops with no formula (counted 0): " + "; ".join(parts))
    blind = getattr(report, "fvcore_blind", None)
    if blind is not None and len(blind):
        notes.append(report.fvcore_blind_line())
    return notes


@click.command("layers")
@click.argument("model")
@click.option("--input", "input_", default=None, help="C x H x W, e.g. 3x224x224 (default: the model's own).")
@click.option("--batch", default=1, show_default=True, type=int, help="Batch size N.")
@click.option("--depth", default=None, type=int, help="Aggregate by module depth K instead of per op.")
@click.option("--convention", type=click.Choice(["native", "fvcore"]), default="native",
              show_default=True, help="native: MACs + FLOPs as documented; fvcore: fvcore's flop count.")
@click.option("--engine", type=click.Choice(["native", "fvcore"]), default="native", show_default=True,
              help="fvcore runs fvcore itself (real CPU forward) behind the same table.")
@click.option("--strict", is_flag=True, default=False,
              help="Fail (exit 2) if an op that is not pure data movement has no formula.")
@format_option()
@output_option()
def layers(model, input_, batch, depth, convention, engine, fmt, output, strict):
    """Per-layer params, MACs, FLOPs and activations of MODEL.

    MODEL: a variant name (see `inception-cost variants`), torchvision:NAME,
    timm:NAME, or path/to/file.py:factory."""
    if batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    module, default_size, label = resolve_model(model)
    chw = parse_chw(input_) if input_ else default_size
    try:
        report = count(module, chw, batch=batch, convention=convention, engine=engine, name=label,
                       strict=strict)
    except ForwardError as e:
        raise UsageError(str(e)) from None
    df = layers_table(report, depth, fmt)
    unit_flops = "fvcore-FLOPs" if report.convention == "fvcore" else "FLOPs"
    units = {**UNITS, "flops": unit_flops}
    title = (f"{label} @ {batch}x{chw[0]}x{chw[1]}x{chw[2]} (N x C x H x W) — "
             f"{report.convention} convention, {report.engine} engine")
    notes = [f"MACs = multiply-accumulates (bias excluded); {unit_flops} per "
             f"inception_cost.counting.formulas"]
    notes += uncounted_notes(report)
    write_output(render(df, fmt, title=title, units=units, notes=notes), output)
