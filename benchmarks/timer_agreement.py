"""Benchmark: does the profiler's timer agree with torch.utils.benchmark.Timer, and
do per-layer self times add up to the whole forward?

These are measurements, so they depend on the machine's load: they live here and
in reports/benchmarks/, not in the unit tests (which check the statistics, the
structure and the join with the counts, none of which depend on load).

For each model: ``rounds`` alternating measurements (profiler median, then
Timer.blocked_autorange median) on one thread; the ratio profiler / Timer per
round and the median of the ratios; then the per-layer sum vs the un-hooked
whole-model median (gap %). Writes reports/benchmarks/timer_agreement.{csv,md}.

    python benchmarks/timer_agreement.py [--rounds 5] [--out reports/benchmarks]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys

import pandas as pd
import torch
import torch.nn as nn
from torch.utils.benchmark import Timer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from inception_cost import build, profile  # noqa: E402
from inception_cost.atomic import write_text  # noqa: E402
from inception_cost.report.render import to_csv, to_markdown  # noqa: E402


def convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()).eval()


def paper_googlenet() -> nn.Module:
    m = build("googlenet", device="cpu")
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.01)
    return m.eval()


MODELS = {"convnet 16->64->64 @ 16x32x32": (convnet, (16, 32, 32)),
          "googlenet @ 3x224x224": (paper_googlenet, (3, 224, 224))}


def measure(name: str, make, chw, rounds: int) -> dict:
    model = make()
    x = torch.randn(1, *chw, generator=torch.Generator().manual_seed(0))
    quiet = dict(notify=lambda msg: None)

    def forward():
        with torch.inference_mode():
            model(x)

    ratios, ours_ms, ours_mean_ms, timer_ms = [], [], [], []
    for _ in range(rounds):
        ours = profile(model, [1], device="cpu", input_size=chw, warmup=2, iters=15, **quiet)
        ref = Timer("forward()", globals={"forward": forward},
                    num_threads=1).blocked_autorange(min_run_time=0.2)
        ours_ms.append(float(ours["median_ms"].iloc[0]))
        ours_mean_ms.append(float(ours["mean_ms"].iloc[0]))
        timer_ms.append(ref.median * 1e3)
        ratios.append(ours_ms[-1] / timer_ms[-1])
    layered = profile(model, [1], device="cpu", input_size=chw, warmup=2, iters=10,
                      per_layer=True, **quiet)
    gap = float(layered.layers["gap_pct"].iloc[0])
    return {"model": name, "threads": 1, "rounds": rounds,
            "profiler median ms": round(statistics.median(ours_ms), 3),
            "profiler mean ms": round(statistics.median(ours_mean_ms), 3),
            "Timer median ms": round(statistics.median(timer_ms), 3),
            "ratio (median of rounds)": round(statistics.median(ratios), 3),
            "ratio min": round(min(ratios), 3), "ratio max": round(max(ratios), 3),
            "per-layer sum vs whole gap %": round(gap, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join("reports", "benchmarks"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    df = pd.DataFrame([measure(n, make, chw, a.rounds) for n, (make, chw) in MODELS.items()])
    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    notes = [f"CPU {cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}, one thread; "
             "ratio = profiler median / torch.utils.benchmark.Timer median, per round (the ms "
             "columns: medians over rounds); gap % = "
             "(sum of per-layer self times - whole forward) / whole forward",
             f"load average when measured (1, 5, 15 min): {load}. The profiler's median is "
             "over single forwards, Timer's over blocks of forwards (each block's mean): "
             "compare Timer's median with the profiler's mean as well as its median",
             "a measurement, not a test: a busy machine moves these numbers; regenerate with "
             "`python benchmarks/timer_agreement.py`"]
    write_text(os.path.join(a.out, "timer_agreement.csv"), to_csv(df))
    write_text(os.path.join(a.out, "timer_agreement.md"),
               to_markdown(df, "Profiler timer vs torch.utils.benchmark.Timer (CPU)", notes))
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
