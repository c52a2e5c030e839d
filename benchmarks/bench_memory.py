"""Benchmark: one training-step memory analysis (googlenet, batch 32, Adam, steady state)
with ``inception_cost.memory`` vs PyTorch's MemTracker under FakeTensorMode on the same
program, in the same process; best of N after one warm-up run each.  Also times the
``--fit`` search for training.  Writes reports/benchmarks/memory_speed.md.  Usage:
    python benchmarks/bench_memory.py [--repeat 3] [--model googlenet] [--batch 32]

``--before DIR`` (a checkout of the commit to compare with) instead runs the same
measurement on that checkout and on this tree, each in fresh subprocesses alternated
``--rounds`` times (see before_after.py), in process CPU seconds, and adds a dated
before/after section to memory_speed.md:
    python benchmarks/bench_memory.py --before DIR [--rounds 3] [--repeat 3]
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
try:
    from inception_cost.memory_analysis.step_config import StepConfig
except ImportError:     # a checkout from before the rename (--before DIR runs this file there)
    from inception_cost.memory_analysis.step import StepConfig
import before_after  # noqa: E402 - benchmarks/ is the script's folder


def best_of(fn, repeat: int, timer=time.perf_counter) -> tuple[float, object]:
    """Best seconds (``timer``) of ``repeat`` calls after a warm-up call, and the result."""
    out = fn()                      # warm-up (imports, kernel registration)
    times = []
    for _ in range(repeat):
        t = timer()
        out = fn()
        times.append(timer() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default="googlenet")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--out", default="reports/benchmarks/memory_speed.md")
    before_after.add_options(ap)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    if a.child:
        return _child(a)
    if a.before:
        return _before_after(a)
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


def _child(a) -> None:
    """Child of --before: ours, MemTracker and the fit, process CPU seconds, one JSON line."""
    import json
    import inception_cost
    model = build(a.model)
    chw = (3, 224, 224)
    cfg = StepConfig(a.batch, chw, True, a.optimizer)
    clock = time.process_time
    t_ours, ours = best_of(lambda: memory(model, chw, batch=a.batch, training=True,
                                          optimizer=a.optimizer), a.repeat, clock)
    t_mt, ref = best_of(lambda: memtracker_peak(model, cfg), a.repeat, clock)
    t_fit, fit = best_of(lambda: fit_batch(model, "16GiB", chw, training=True,
                                           optimizer=a.optimizer), 1, clock)
    print(json.dumps({"package": inception_cost.__file__, "ours": t_ours, "memtracker": t_mt,
                      "fit": t_fit, "peak": ours_as_memtracker(ours)["Total"],
                      "ref_peak": ref["Total"], "fit_batch": fit.batch, "probes": fit.probes}))


def _before_after(a) -> None:
    import before_after as ba
    res = ba.alternate(os.path.abspath(__file__), a.before, a.rounds,
                       ["--repeat", str(a.repeat), "--model", a.model, "--batch", str(a.batch),
                        "--optimizer", a.optimizer])
    runs = res["runs"]
    facts = {(r["peak"], r["ref_peak"], r["fit_batch"], r["probes"])
             for tree in runs.values() for r in tree}
    assert len(facts) == 1, facts
    peak, ref_peak, fit_b, probes = next(iter(facts))
    b = {k: ba.best(runs["before"], k) for k in ("ours", "memtracker", "fit")}
    f = {k: ba.best(runs["after"], k) for k in ("ours", "memtracker", "fit")}
    noise = ba.noise_band(b["memtracker"], f["memtracker"])
    labels = {"ours": "inception_cost.memory", "memtracker": "torch MemTracker (FakeTensorMode)",
              "fit": f"`--fit 16GiB` training search ({probes} probes, largest batch {fit_b})"}
    rows = [f"| {labels[k]} | {b[k]:.3f} | {f[k]:.3f} | {f[k] / b[k]:.2f} | "
            f"{b[k] / b['memtracker']:.3f} | {f[k] / f['memtracker']:.3f} |" for k in labels]
    verdicts = []
    for k in ("ours", "fit"):
        change = (f[k] / f["memtracker"]) / (b[k] / b["memtracker"])
        verdicts.append(f"{labels[k]}: {ba.verdict(change, noise)} (change {change:.2f}, "
                        f"noise ±{noise:.0%})")
    before = ba.commit_of(a.before)
    lines = [
        f"*before*: commit {before}; *after*: commit {ba.commit_of(ba.HERE)} (this tree).  "
        f"{a.model}, batch {a.batch}, {a.optimizer}, one training step, the same program as "
        f"above; best of {a.repeat} timed runs after a warm-up run each (the fit: of 1), in "
        "process CPU seconds (on a loaded machine wall time mostly measures waiting for a "
        f"core); each checkout in fresh subprocesses, {a.rounds} of each, alternated (before, "
        "after, after, before, ...), best subprocess kept.  MemTracker is the same code in "
        "both columns: the ratios to it cancel the load, and `change` = (ours / MemTracker "
        "after) / (the same before) is the verdict's number (noise band: how far MemTracker "
        f"itself moved, at least 5%).  Peak bytes equal in every subprocess: ours {peak:,}, "
        f"MemTracker {ref_peak:,}.",
        "",
        "| tool | before (s) | after (s) | after / before | × MemTracker before "
        "| × MemTracker after |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "- " + ba.load_line(res["loads"]),
        "- verdict: " + "; ".join(verdicts),
        f"- regenerate: `python benchmarks/bench_memory.py --before DIR{ba.title_option(a)}` "
        f"(DIR: a checkout of {before})",
    ]
    print(ba.add_section(a.out, a.title or "Before/after the shared op capture (memory vs "
                         "MemTracker)", lines))


if __name__ == "__main__":
    main()
