"""MAC ratio beside measured time ratio: where a FLOP saving becomes a time saving."""
from __future__ import annotations

import pandas as pd

KEY = ["device_name", "dtype", "channels_last", "compile", "cuda_graphs", "batch"]
COMPARE_COLUMNS = ["batch", "dtype", "channels_last", "compile", "cuda_graphs", "variant",
                   "baseline", "macs_ratio", "time_ratio", "time_ratio_over_macs_ratio"]


def ratio_table(runs: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Each variant's MACs and median time as a fraction of ``baseline``'s (default:
    the first variant), for every configuration both ran successfully.

    ``time_ratio_over_macs_ratio`` is 1 when time shrinks exactly like MACs and
    above 1 when the MAC saving buys less time."""
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    variants = list(dict.fromkeys(ok["variant"]))
    base = baseline or variants[0]
    rows = []
    for _, group in ok.groupby(KEY, sort=False):
        ref = group[group["variant"] == base]
        if ref.empty:
            continue
        r = ref.iloc[0]
        for _, g in group[group["variant"] != base].iterrows():
            macs_ratio = float(g["macs"]) / float(r["macs"]) if float(r["macs"]) else float("nan")
            time_ratio = float(g["median_ms"]) / float(r["median_ms"])
            rows.append({"batch": g["batch"], "dtype": g["dtype"],
                         "channels_last": g["channels_last"], "compile": g["compile"],
                         "cuda_graphs": g["cuda_graphs"], "variant": g["variant"],
                         "baseline": base, "macs_ratio": macs_ratio, "time_ratio": time_ratio,
                         "time_ratio_over_macs_ratio": time_ratio / macs_ratio
                         if macs_ratio else float("nan")})
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)
