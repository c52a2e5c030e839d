"""Benchmark: counting one training step vs running it uncounted vs FlopCounterMode.

torchvision GoogLeNet with its auxiliary heads, batch 256, on the meta device:
  * uncounted: forward (train mode) + cross-entropy loss + ``loss.backward()``;
  * FlopCounterMode: the same forward + backward under PyTorch's counter;
  * inception-cost: ``count_training(model, ..., optimizer="sgd")``, the whole call
    (copying the model to meta, counting, the per-layer report); the two baselines
    run on one meta copy prepared before timing.
Every variant runs ``--repeat`` times interleaved in one process; the best time of each
is reported (best-of-N: the least disturbed run). Writes
reports/benchmarks/training_speed.{csv,md}. Usage:
    python benchmarks/bench_training.py [--repeat 7] [--batch 256]

``--before DIR`` (a checkout of the commit to compare with) instead runs the same
measurement on that checkout and on this tree, each in fresh subprocesses alternated
``--rounds`` times (see before_after.py), in process CPU seconds, and adds a dated
before/after section to training_speed.md:
    python benchmarks/bench_training.py --before DIR [--rounds 3] [--repeat 7]
"""
from __future__ import annotations

import gc
import os
import platform
import sys
import time

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from inception_cost.atomic import write_text
from inception_cost.counting.placement import copy_on
from inception_cost.counting.training import count_training
from _common import csv_text, speed_parser, step_loss  # noqa: E402 - benchmarks/ is the script's folder


def _model():
    with torch.device("meta"):
        return torchvision.models.get_model("googlenet", weights=None, aux_logits=True,
                                            init_weights=False)


def uncounted(model, x):
    """``model`` is already a meta copy in train mode (no copying timed)."""
    step_loss(model(x)).backward()


def flopcountermode(model, x):
    with FlopCounterMode(display=False) as fcm:
        step_loss(model(x)).backward()
    return fcm.get_total_flops()


def ours(model, x):
    t = count_training(model, inputs=x, optimizer="sgd").totals()
    return 2 * (t["fwd_macs"] + t["bwd_macs"])


def measure(repeat: int, batch: int, timer=time.perf_counter) -> tuple[dict, dict]:
    """Best seconds (``timer``) of each variant over ``repeat`` rotated rounds after a
    warm-up round, and each variant's last result (FLOPs)."""
    model = _model()
    x = torch.empty(batch, 3, 224, 224, device="meta")
    ready = copy_on(model, "meta").train()       # the baselines reuse one prepared copy
    fns = {"uncounted forward+backward": lambda m, x: uncounted(ready, x),
           "FlopCounterMode": lambda m, x: flopcountermode(ready, x),
           "inception-cost count_training": ours}
    results = {k: None for k in fns}
    for fn in fns.values():                      # warm-up: imports, kernels, caches
        fn(model, x)
    best = {k: float("inf") for k in fns}
    names = list(fns)
    for i in range(repeat):
        for k in names[i % 3:] + names[:i % 3]:      # rotate the order every round
            fn = fns[k]
            gc.collect()                         # no variant pays for another's garbage
            t = timer()
            results[k] = fn(model, x)
            best[k] = min(best[k], timer() - t)
    assert results["FlopCounterMode"] == results["inception-cost count_training"], results
    return best, results


def main() -> None:
    ap = speed_parser(repeat=7)
    ap.add_argument("--batch", type=int, default=256)
    a = ap.parse_args()
    if a.child:
        import json
        import inception_cost
        best, results = measure(a.repeat, a.batch, time.process_time)
        print(json.dumps({"package": inception_cost.__file__, "best": best,
                          "flops": results["inception-cost count_training"]}))
        return None
    if a.before:
        return _before_after(a)
    best, results = measure(a.repeat, a.batch)
    base = best["uncounted forward+backward"]
    rows = [{"variant": k, "best_s": round(v, 4), "x uncounted": round(v / base, 2),
             "x FlopCounterMode": round(v / best["FlopCounterMode"], 2)} for k, v in best.items()]
    write_text(os.path.join(a.out, "training_speed.csv"), csv_text(rows), make_dirs=True)
    env = (f"torch {torch.__version__}, torchvision {torchvision.__version__}, Python "
           f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s)")
    lines = [f"### Counting a training step: torchvision GoogLeNet (aux heads on), batch {a.batch}, meta device",
             "", "| variant | best of %d (s) | × uncounted | × FlopCounterMode |" % a.repeat, "|---|---:|---:|---:|"]
    lines += [f"| {r['variant']} | {r['best_s']} | {r['x uncounted']} | {r['x FlopCounterMode']} |" for r in rows]
    lines += ["", f"- both counters agree: {results['FlopCounterMode']:,} FLOPs (= 2 x forward+backward MACs)",
              "- targets: inception-cost ≤ 1.5 × uncounted; faster than FlopCounterMode",
              f"- {env}", "- regenerate: `python benchmarks/bench_training.py`"]
    write_text(os.path.join(a.out, "training_speed.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def _before_after(a) -> None:
    import before_after as ba
    res = ba.alternate(os.path.abspath(__file__), a.before, a.rounds,
                       ["--repeat", str(a.repeat), "--batch", str(a.batch)])
    runs = res["runs"]
    assert len({r["flops"] for tree in runs.values() for r in tree}) == 1
    names = ["uncounted forward+backward", "FlopCounterMode", "inception-cost count_training"]
    b = {k: ba.best(runs["before"], "best", k) for k in names}
    f = {k: ba.best(runs["after"], "best", k) for k in names}
    ours = names[2]
    verdicts = []
    for ref in names[:2]:
        change = (f[ours] / f[ref]) / (b[ours] / b[ref])
        noise = ba.noise_band(b[ref], f[ref])
        verdicts.append((ref, ba.verdict(change, noise), change, noise))
    rows = [f"| {k} | {b[k]:.4f} | {f[k]:.4f} | {f[k] / b[k]:.2f} | "
            f"{b[k] / b[names[0]]:.3f} | {f[k] / f[names[0]]:.3f} | "
            f"{b[k] / b[names[1]]:.3f} | {f[k] / f[names[1]]:.3f} |" for k in names]
    before = ba.commit_of(a.before)
    lines = [
        f"*before*: commit {before}; *after*: commit {ba.commit_of(ba.HERE)} (this tree).  "
        f"GoogLeNet (aux heads on), batch {a.batch}, meta device, the same three variants as "
        f"above, rotated every round, best of {a.repeat} rounds after a warm-up round, in "
        "process CPU seconds (on a loaded machine wall time mostly measures waiting for a "
        f"core); each checkout in fresh subprocesses, {a.rounds} of each, alternated (before, "
        "after, after, before, ...), best subprocess kept.  The uncounted step and "
        "FlopCounterMode are the same code in both columns: the ratios to them cancel the "
        "load, and `change` = (count_training / reference after) / (the same before) is the "
        "verdict's number (noise band: how far the reference itself moved, at least 5%).  "
        f"Step FLOPs equal in every subprocess: {next(iter(runs['after']))['flops']:,}.",
        "",
        "| variant | before (s) | after (s) | after / before | × uncounted before "
        "| × uncounted after | × FCM before | × FCM after |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "- " + ba.load_line(res["loads"]),
        "- verdict for count_training: " + "; ".join(
            f"vs {r}: {v} (change {c:.2f}, noise ±{n:.0%})" for r, v, c, n in verdicts),
        f"- regenerate: `python benchmarks/bench_training.py --before DIR{ba.title_option(a)}` "
        f"(DIR: a checkout of {before})",
    ]
    print(ba.add_section(os.path.join(a.out, "training_speed.md"),
                         a.title or "Before/after the shared op capture (count_training vs "
                         "FlopCounterMode and the uncounted step)", lines))


if __name__ == "__main__":
    sys.exit(main())
