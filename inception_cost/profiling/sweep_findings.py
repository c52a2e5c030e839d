"""Findings from recorded sweeps, as data: best mode vs eager fp32 and the layers
furthest from their roofline (DataFrames; times in milliseconds, throughput in TFLOP/s).
Read from the CSVs ``profile`` writes; :mod:`inception_cost.report.profile_summary`
renders them."""
from __future__ import annotations

import pandas as pd


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
