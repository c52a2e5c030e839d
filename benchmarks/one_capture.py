"""Benchmark: one op capture feeding two consumers vs the two analyses run apart, and each
consumer before/after the shared capture.

A. ``analyse_step`` (one training step under one capture read by the training counter and
   the memory tracker) vs ``count_training`` + ``memory(training=True, foreach=False)`` run
   apart, on googlenet and inception_v3 (aux heads on), batch 2, meta device, SGD; rounds
   interleaved in one process, best of ``--repeat`` after a warm-up round, process CPU
   seconds (``time.process_time``).  The first round checks the results are equal.
B. Each consumer on this tree and on another checkout (``--before DIR``: a checkout of the commit to compare with), each
   in a fresh subprocess with that checkout first on ``PYTHONPATH``, the two alternated
   ``--rounds`` times (best kept): ``count`` (googlenet forward, batch 2) beside
   FlopCounterMode on the same forward, ``count_training`` (googlenet, batch 2, SGD), and
   ``memory`` (googlenet training step, batch 2, Adam) beside torch's MemTracker on the same
   program.  FlopCounterMode and MemTracker run the same code in both subprocesses: they
   show how loaded the machine was in each.

Writes reports/benchmarks/one_capture.md.  Usage:
    python benchmarks/one_capture.py [--repeat 5] [--before DIR] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import torch

from inception_cost.atomic import write_text

CONSUMERS = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import torch, torchvision
from torch.utils.flop_counter import FlopCounterMode
from inception_cost import count, memory
from inception_cost.counting.training import count_training
from inception_cost.memory_analysis.reference import memtracker_peak
try:
    from inception_cost.memory_analysis.step_config import StepConfig
except ImportError:     # a checkout from before the rename
    from inception_cost.memory_analysis.step import StepConfig
repeat = int(sys.argv[1])
net = torchvision.models.googlenet(init_weights=False)
with torch.device("meta"):
    meta = torchvision.models.googlenet(init_weights=False, aux_logits=False).eval()

def fcm():
    with torch.no_grad(), FlopCounterMode(display=False) as m:
        meta(torch.empty(2, 3, 224, 224, device="meta"))
    return m.get_total_flops()

jobs = {
    "count (forward)": lambda: count(net.eval(), (2, 3, 224, 224)).total_macs,
    "FlopCounterMode (forward)": fcm,
    "count_training": lambda: count_training(net, (2, 3, 224, 224)).totals()["step_flops"],
    "memory (training, adam)": lambda: memory(net, (3, 224, 224), batch=2, training=True,
                                              optimizer="adam").peak_bytes,
    "MemTracker (same program)": lambda: memtracker_peak(net, StepConfig(2, (3, 224, 224),
                                                                         True, "adam")),
}
out = {}
for name, fn in jobs.items():
    fn()
    best = None
    for _ in range(repeat if "MemTracker" not in name else max(1, repeat // 2)):
        t = time.process_time()
        fn()
        t = time.process_time() - t
        best = t if best is None else min(best, t)
    out[name] = best
print(json.dumps(out))
"""


def _model(name: str):
    import torchvision
    return torchvision.models.get_model(name, weights=None, init_weights=False)


def combined_vs_apart(name: str, repeat: int) -> dict:
    """Best process CPU seconds of the two analyses apart and of the combined one."""
    from inception_cost import analyse_step, memory
    from inception_cost.counting.step_program import default_loss
    from inception_cost.counting.training import count_training
    from inception_cost.memory_analysis.step_config import outputs
    model = _model(name)
    size = 299 if name == "inception_v3" else 224
    target = torch.zeros(2, dtype=torch.long, device="meta")

    def apart():
        tr = count_training(model, (2, 3, size, size), optimizer="sgd",
                            loss=lambda out: default_loss(outputs(out), 0.3, target))
        mem = memory(model, (3, size, size), batch=2, training=True, optimizer="sgd",
                     foreach=False)
        return tr, mem

    def combined():
        both = analyse_step(model, (3, size, size), batch=2, optimizer="sgd")
        return both.training, both.memory

    (tr, mem), (tr2, mem2) = apart(), combined()          # warm-up round, and the check
    assert tr.totals() == tr2.totals() and tr.layers.equals(tr2.layers), name
    assert mem.peak_bytes == mem2.peak_bytes and mem.timeline.equals(mem2.timeline), name
    best = {"apart": None, "combined": None}
    for _ in range(repeat):
        for key, fn in (("apart", apart), ("combined", combined)):
            t = time.process_time()
            fn()
            t = time.process_time() - t
            best[key] = t if best[key] is None else min(best[key], t)
    best["step_flops"] = tr2.totals()["step_flops"]
    best["peak_bytes"] = mem2.peak_bytes
    return best


def consumers(tree: str, repeat: int) -> dict:
    env = dict(os.environ, PYTHONPATH=tree)
    res = subprocess.run([sys.executable, "-c", CONSUMERS, str(repeat)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", required=True, help="a checkout of the commit to compare with")
    ap.add_argument("--before-label", default="the checkout given by --before")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="reports/benchmarks/one_capture.md")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    part_a = {n: combined_vs_apart(n, a.repeat) for n in ("googlenet", "inception_v3")}
    before: dict = {}
    after: dict = {}
    for _ in range(a.rounds):
        for acc, tree in ((before, a.before), (after, here)):
            for k, v in consumers(tree, a.repeat).items():
                acc[k] = v if k not in acc else min(acc[k], v)
    rows_a = [f"| {n} | {r['apart']:.3f} | {r['combined']:.3f} | "
              f"{r['apart'] / r['combined']:.2f}x | {r['step_flops']:,} | {r['peak_bytes']:,} |"
              for n, r in part_a.items()]
    rows_b = [f"| {k} | {before[k]:.3f} | {after[k]:.3f} | {after[k] / before[k]:.2f} |"
              for k in before]
    text = "\n".join([
        "# One capture, several consumers",
        "",
        "## A. Training counts + memory of one step: apart vs one capture",
        "",
        "Batch 2, meta device, SGD (per-parameter loop), aux heads on.  *apart*: "
        "`count_training` (with the step's targets made beforehand) + `memory(training=True, "
        "foreach=False)`; *combined*: `analyse_step` (one run, one `OpCapture`, both consumers; "
        "its results checked equal to the apart ones in the same run).  Best of "
        f"{a.repeat} interleaved rounds after a warm-up, process CPU seconds.",
        "",
        "| model | apart (s) | combined (s) | apart / combined | step FLOPs | peak bytes |",
        "|---|---|---|---|---|---|",
        *rows_a,
        "",
        "## B. Each consumer before/after the shared capture",
        "",
        f"*before*: {a.before_label} (main before the shared capture); *after*: this tree.  Each in "
        f"a fresh subprocess, the two alternated {a.rounds} times, best of {a.repeat} "
        "(MemTracker: of "
        f"{max(1, a.repeat // 2)}) per subprocess after a warm-up call, process CPU seconds.  "
        "googlenet, batch 2: forward counts (eval), training counts (SGD), memory of a training "
        "step (Adam, foreach as on cuda).  FlopCounterMode and MemTracker are the same code in "
        "both columns: their ratio shows the load each column ran under.",
        "",
        "| job | before (s) | after (s) | after / before |",
        "|---|---|---|---|",
        *rows_b,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other "
        f"work), Python {platform.python_version()}, torch {torch.__version__}.",
        "Regenerate: `python benchmarks/one_capture.py`.",
        "",
    ])
    write_text(a.out, text, make_dirs=True)
    print(text)


if __name__ == "__main__":
    main()
