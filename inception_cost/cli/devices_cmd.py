"""``inception-cost devices``: the datasheet catalog the timing model can target."""
from __future__ import annotations

import textwrap

import click
import pandas as pd

from ..report.fit import terminal_width
from ..report.render import render, to_terminal, write_output
from ..timing_model.devices import (DEFAULT_COMPUTE_EFFICIENCY, DEFAULT_MEMORY_EFFICIENCY,
                                    DEFAULT_OVERHEAD_US, MODES, catalog, find_device)
from .options import format_option, output_option


def devices_frame(devices) -> pd.DataFrame:
    """One row per device: dense peaks (TFLOP/s) per mode, bandwidth (GB/s), memory (GB)
    and the fp32 ridge point (FLOPs per byte)."""
    rows = []
    for d in devices:
        row = {"device": d.name}
        for m in MODES:
            row[m] = d.peaks_tflops.get(m)
        row.update({"GB/s": d.bandwidth_gbs, "GB": d.memory_gb,
                    "ridge fp32": round(d.ridge["fp32"], 1) if "fp32" in d.ridge else None,
                    "aliases": ", ".join(d.aliases)})
        rows.append(row)
    return pd.DataFrame(rows)


@click.command("devices")
@click.argument("names", nargs=-1)
@click.option("--sources", is_flag=True, help="Print each device's datasheet source.")
@format_option()
@output_option()
def devices_cmd(names, sources, fmt, output):
    """The device catalog used by `predict --on`: dense peaks per math mode, bandwidth, memory.

    Peaks in TFLOP/s (dense: sparse datasheet figures are halved; an FMA is 2 FLOPs):
    fp32 = FP32 pipe, tf32 = TF32 tensor cores, fp16/bf16 = tensor cores with FP32
    accumulate. NAMES (optional) picks devices; case, spaces and dashes are ignored."""
    devs = [find_device(n) for n in names] if names else list(catalog())
    df = devices_frame(devs)
    notes = [f"Catalog GPUs are predicted at {DEFAULT_COMPUTE_EFFICIENCY:g} x peak, "
             f"{DEFAULT_MEMORY_EFFICIENCY:g} x bandwidth and {DEFAULT_OVERHEAD_US:g} us per op "
             "(stated defaults); `calibrate` measures this machine."]
    cited = [f"{d.name}: {d.source}" for d in devs] if sources else []
    title = "Devices (dense TFLOP/s, GB/s, GB)"
    if fmt == "json":
        from ..report.json_object import dumps, json_object, rows_of
        write_output(dumps(json_object(None, None, {"devices": len(df)}, rows_of(df),
                                       notes=notes + cited)), output)
        return
    if fmt != "rich":
        write_output(render(df, fmt, title=title, notes=notes + cited), output)
        return
    # wrapped between words here, not by the terminal renderer: a URL longer than the
    # width stays whole on its own line (copied or clicked as one)
    width = terminal_width(to_terminal())
    text = render(df.drop(columns=["aliases"]), fmt, title=title, notes=notes)
    text += "".join(textwrap.fill(n, width - 1, break_long_words=False,
                                  break_on_hyphens=False) + "\n" for n in cited)
    write_output(text, output)
