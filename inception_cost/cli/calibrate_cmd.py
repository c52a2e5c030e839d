"""``inception-cost calibrate``: measure this machine's ceilings into a device profile."""
from __future__ import annotations

import json
import sys
import textwrap

import click
import pandas as pd

from ..atomic import write_text
from ..report.fit import terminal_width
from ..report.render import render, to_terminal, write_output
from ..timing_model.calibrate import calibrate, check_device, profile_json, steps
from .options import format_option


@click.command("calibrate")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--output", "-o", "output", default=None,
              help="Write the device profile (JSON) here; `predict --on FILE` reads it.")
@click.option("--threads", type=int, default=None,
              help="torch CPU threads to measure with (default: torch's current setting).")
@click.option("--quick", is_flag=True, help="Smaller sizes and fewer repeats (a few seconds).")
@format_option()
def calibrate_cmd(device, output, threads, quick, fmt):
    """Measure this machine's achieved ceilings: GEMM per dtype, convolution rates by kind
    and output size, pooling rates, per-op overheads by op class, memory and in-cache
    bandwidth (streaming add) and a tiny op's overhead; warm-up, median of N.

    Prints the measurements; with -o FILE writes a device profile that `predict --on FILE`
    accepts (its peaks are the achieved rates, efficiencies 1)."""
    check_device(device)
    if threads is not None:
        if threads <= 0:
            from ..errors import UsageError
            raise UsageError(f"--threads must be a positive integer (got {threads})")
        import torch
        torch.set_num_threads(threads)
    from rich.progress import Progress
    from rich.console import Console
    with Progress(transient=True, console=Console(file=sys.stderr)) as bar:
        task = bar.add_task("calibrating", total=steps(device, quick))

        def step(msg):
            bar.update(task, description=msg, advance=1)
        profile, ms = calibrate(device, quick, progress=step)
    if output:
        write_text(output, json.dumps(profile_json(profile, ms), indent=2) + "\n", what="--output")
    write_output(calibration_text(profile, ms, fmt, output, quick), None)


def calibration_text(profile, ms, fmt: str, output: str | None = None, quick: bool = False) -> str:
    """The measurements as a table: value to 4 significant digits (a slow pooling rate
    reads 0.0004 TFLOP/s, not 0.0), median milliseconds of one call to 4 decimals."""
    df = pd.DataFrame([{"measurement": m.name, "value": float(f"{m.value:.4g}"), "unit": m.unit,
                        "median ms": round(m.median_s * 1e3, 4)} for m in ms])
    notes = [f"{profile.name}: {profile.source}"]
    if output:
        notes.append(f"profile written to {output} (use: inception-cost predict MODEL --on {output})")
    if fmt == "json":
        from ..report.json_object import dumps, json_object, rows_of
        return dumps(json_object(None, None, {"measurements": len(df)}, rows_of(df),
                                 device=profile.name, quick=quick, notes=notes))
    if fmt == "rich":
        width = terminal_width(to_terminal())
        notes = [textwrap.fill(n, width - 1, break_long_words=False, break_on_hyphens=False)
                 for n in notes]
    return render(df, fmt, title="Calibration (achieved, median of N)", notes=notes)
