"""Findings from recorded sweeps: best mode vs eager fp32, MACs vs time, and the
layers furthest from their roofline. Reads the CSVs ``profile`` writes.

``python -m inception_cost.profiling.summary RUNS.csv [--layers L.csv]
[--compare C.csv] [-o summary.md]`` prints Markdown."""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from ..atomic import write_text
from ..report.render import to_markdown
from .compare import ratio_table


def _truth(v) -> bool:
    return str(v) == "True"


def mode_label(r) -> str:
    """e.g. 'bf16 NHWC graphs'."""
    mode = ("compile+graphs" if _truth(r["cuda_graphs"]) else "compile") if _truth(r["compile"]) \
        else ("graphs" if _truth(r["cuda_graphs"]) else "eager")
    return f"{r['dtype']} {'NHWC' if _truth(r['channels_last']) else 'NCHW'} {mode}"


def speedups(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant and batch: eager fp32 NCHW median, the fastest mode, and the speed-up."""
    ok = runs[runs["status"] == "ok"].copy()
    ok["mode"] = [mode_label(r) for _, r in ok.iterrows()]
    rows = []
    for (variant, batch), g in ok.groupby(["variant", "batch"], sort=False):
        base = g[g["mode"] == "fp32 NCHW eager"]
        best = g.loc[g["median_ms"].astype(float).idxmin()]
        base_ms = float(base["median_ms"].iloc[0]) if len(base) else float("nan")
        rows.append({"variant": variant, "batch": int(batch), "eager fp32 ms": round(base_ms, 3),
                     "best mode": best["mode"], "best ms": round(float(best["median_ms"]), 3),
                     "speed-up": round(base_ms / float(best["median_ms"]), 2),
                     "best images/s": round(float(best["images_per_s"]), 1),
                     "best TFLOP/s": round(float(best["achieved_tflops"]), 2)})
    return pd.DataFrame(rows)


def furthest_from_roofline(layers: pd.DataFrame, n: int = 10,
                           min_time_pct: float = 1.0) -> pd.DataFrame:
    """Per configuration, the ``n`` layers (>= min_time_pct of the time) with the
    lowest achieved / attainable TFLOP/s."""
    df = layers.copy()
    for c in ("time_pct", "pct_of_roofline", "time_ms", "achieved_tflops", "attainable_tflops",
              "intensity_flop_per_byte"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df = df[(df["time_pct"] >= min_time_pct) & df["pct_of_roofline"].notna()]
    out = []
    for _, g in df.groupby(["variant", "dtype", "channels_last", "batch"], sort=False):
        out.append(g.sort_values("pct_of_roofline").head(n))
    if not out:
        return pd.DataFrame()
    cols = ["variant", "dtype", "channels_last", "batch", "module", "ops", "time_ms", "time_pct",
            "intensity_flop_per_byte", "bound", "achieved_tflops", "attainable_tflops",
            "pct_of_roofline"]
    return pd.concat(out)[cols].round(3)


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
    ap = argparse.ArgumentParser(prog="python -m inception_cost.profiling.summary")
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
