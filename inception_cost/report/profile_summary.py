"""Findings from recorded sweeps as Markdown: best mode vs eager fp32, MACs vs time, and
the layers furthest from their roofline. Reads the CSVs ``profile`` writes.

``python -m inception_cost.report.profile_summary RUNS.csv [--layers L.csv]
[--compare C.csv] [-o summary.md]`` prints Markdown."""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from ..atomic import write_text
from ..profiling.compare import ratio_table
from ..profiling.sweep_findings import furthest_from_roofline, speedups
from .render import to_markdown


def markdown(runs_csv: str, layers_csv: str | None = None, compare_csv: str | None = None) -> str:
    runs = pd.read_csv(runs_csv, keep_default_na=False, na_values=[""])
    head = ""
    if len(runs):
        r = runs.iloc[0]
        head = (f"Device: {r['device_name']} (driver {r['driver']}, CUDA {r['cuda']}, cuDNN "
                f"{r['cudnn']}, torch {r['torch']})" if r["device"] == "cuda" else
                f"Device: {r['device_name']} ({r['torch_threads']} torch threads, torch "
                f"{r['torch']})")
    parts = [head, "", to_markdown(speedups(runs), "Best mode vs eager fp32 (median ms)")]
    status = runs.groupby("status").size().to_dict()
    parts.append(f"Configurations by status: {status}\n")
    if compare_csv:
        comp = ratio_table(pd.read_csv(compare_csv, keep_default_na=False, na_values=[""]))
        parts.append(to_markdown(comp.round(3), "MACs vs measured time (relative to the first "
                                                "variant)"))
    if layers_csv:
        layers = pd.read_csv(layers_csv, keep_default_na=False, na_values=[""])
        gaps = layers.drop_duplicates(["variant", "dtype", "channels_last", "batch"])[
            ["variant", "dtype", "channels_last", "batch", "whole_ms", "layers_sum_ms",
             "gap_pct"]].round(3)
        parts.append(to_markdown(gaps, "Per-layer sum vs whole-model time"))
        far = furthest_from_roofline(layers, n=5)
        title = "Layers furthest from their roofline (>= 1% of the time)"
        parts.append(to_markdown(far, title) if len(far) else
                     f"### {title}\n\nNo device peaks (unknown device): give --peak-tflops "
                     f"and --peak-bandwidth to place layers on a roofline.\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inception_cost.report.profile_summary")
    ap.add_argument("runs")
    ap.add_argument("--layers", default=None)
    ap.add_argument("--compare", default=None)
    ap.add_argument("-o", "--output", default=None)
    a = ap.parse_args(argv)
    text = markdown(a.runs, a.layers, a.compare)
    if a.output:
        write_text(a.output, text, what="--output")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
