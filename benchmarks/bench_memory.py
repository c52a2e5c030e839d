"""Benchmark: one training-step memory analysis (googlenet, batch 32, Adam, steady state)
with ``inception_cost.memory`` vs PyTorch's MemTracker under FakeTensorMode on the same
program, in the same process; best of N after one warm-up run each.  Also times the
``--fit`` search for training.  Writes reports/benchmarks/memory_speed.md.  Usage:
    python benchmarks/bench_memory.py [--repeat 3] [--model googlenet] [--batch 32]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import torch

from inception_cost import build
from inception_cost.atomic import write_text
from inception_cost.memory_analysis import fit_batch, memory
from inception_cost.memory_analysis.reference import memtracker_peak, ours_as_memtracker
from inception_cost.memory_analysis.step_config import StepConfig


def best_of(fn, repeat: int) -> tuple[float, object]:
    out = fn()                      # warm-up (imports, kernel registration)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="googlenet")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--out", default="reports/benchmarks/memory_speed.md")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    model = build(a.model)
    chw = (3, 224, 224)
    cfg = StepConfig(a.batch, chw, True, a.optimizer)
    t_ours, ours = best_of(lambda: memory(model, chw, batch=a.batch, training=True,
                                          optimizer=a.optimizer), a.repeat)
    t_mt, ref = best_of(lambda: memtracker_peak(model, cfg), a.repeat)
    t_fit, fit = best_of(lambda: fit_batch(model, "16GiB", chw, training=True,
                                           optimizer=a.optimizer), 1)
    mine = ours_as_memtracker(ours)
    rows = [f"| {k} | {mine[k]:,} | {ref[k]:,} |" for k in ref if ref[k] or mine[k]]
    text = "\n".join([
        f"# Memory analysis speed: {a.model}, one training step",
        "",
        f"Batch {a.batch}, {chw[0]}x{chw[1]}x{chw[2]}, fp32, {a.optimizer} (foreach, steady "
        "state), cross-entropy; both tools run the same program "
        "(`inception_cost.memory_analysis.tracked_run.run_program`) in one process: ours on the meta device, "
        "MemTracker under FakeTensorMode on CPU.  Best of "
        f"{a.repeat} timed runs after one warm-up run each.",
        "",
        "| tool | seconds (best) |",
        "|---|---|",
        f"| inception_cost.memory | {t_ours:.3f} |",
        f"| torch MemTracker (FakeTensorMode) | {t_mt:.3f} |",
        f"| speed-up | {t_mt / t_ours:.1f}x |",
        f"| `--fit 16GiB` training search ({fit.probes} probes, largest batch {fit.batch}) "
        f"| {t_fit:.3f} |",
        "",
        "Peak snapshot, bytes (ours folded into MemTracker's categories):",
        "",
        "| category | ours | MemTracker |",
        "|---|---|---|",
        *rows,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared), Python "
        f"{platform.python_version()}, torch {torch.__version__}.",
        "Regenerate: `python benchmarks/bench_memory.py`.",
        "",
    ])
    write_text(a.out, text, make_dirs=True)
    print(text)


if __name__ == "__main__":
    main()
