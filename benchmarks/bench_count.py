"""Benchmark: native counting (meta device) vs FlopCounterMode (meta model) vs fvcore (CPU forward).

Native and FlopCounterMode are timed in one process per (model, batch), interleaved round
by round (best of ``--repeat`` rounds after a warm-up round), so load on a shared machine
hits both alike; each (model, engine, batch) also runs alone in a fresh subprocess for its
peak RSS (and, for fvcore, its time: best of ``--fvcore-repeat``).  Engines:

* ``native``: ``count(model, (N, 3, H, W))`` on a model built as a user builds it (CPU
  weights); the count runs on the meta device (the model copy is in the time).
* ``flop_counter_mode``: ``torch.utils.flop_counter.FlopCounterMode`` around one
  ``torch.no_grad()`` forward of the same model built on the meta device (its fastest setup).
* ``fvcore``: ``FlopCountAnalysis(model, x).total()`` (a traced real forward on CPU).

Writes reports/benchmarks/count_speed.csv and .md.  Usage:
    python benchmarks/bench_count.py [--repeat 9] [--fvcore-repeat 1]

``--before DIR`` (a checkout of the commit to compare with) instead times native and
FlopCounterMode, interleaved in one process as above, on that checkout and on this tree,
each in fresh subprocesses alternated ``--rounds`` times (see before_after.py), and adds a
dated before/after section to count_speed.md (fvcore and RSS are not re-run):
    python benchmarks/bench_count.py --before DIR [--rounds 3] [--repeat 9] [--title TEXT]
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

from inception_cost.atomic import write_text
from _common import csv_text, speed_parser  # noqa: E402 - benchmarks/ is the script's folder

PRELUDE = r"""
import json, resource, sys, time, warnings, logging
warnings.simplefilter("ignore")
import torch, torchvision
from torch.utils.flop_counter import FlopCounterMode
from inception_cost import count
name, batch, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kw = dict(weights=None)
if name in ("googlenet", "inception_v3"):
    kw.update(aux_logits=False, init_weights=False)
size = 299 if name == "inception_v3" else 224

def build(meta):
    if meta:
        with torch.device("meta"):
            return torchvision.models.get_model(name, **kw).eval()
    return torchvision.models.get_model(name, **kw).eval()

def native(m):
    return count(m, (batch, 3, size, size)).total_macs

def fcm(m):
    x = torch.empty(batch, 3, size, size, device="meta")
    with FlopCounterMode(display=False) as f, torch.no_grad():
        m(x)
    return f.get_total_flops() // 2

def fvcore(m):
    from fvcore.nn import FlopCountAnalysis
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    x = torch.randn(batch, 3, size, size)
    return FlopCountAnalysis(m, x).unsupported_ops_warnings(False).total()

def rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

# native and FlopCounterMode timed in one process, interleaved, so a load spike on a shared
# machine hits both; best of `repeat` rounds after one warm-up round
TIMING = PRELUDE + r"""
cpu_model, meta_model = build(False), build(True)
native(cpu_model); fcm(meta_model)
t_nat, t_fcm = [], []
for _ in range(repeat):
    t = time.perf_counter(); a = native(cpu_model); t_nat.append(time.perf_counter() - t)
    t = time.perf_counter(); b = fcm(meta_model); t_fcm.append(time.perf_counter() - t)
print(json.dumps({"native": min(t_nat), "flop_counter_mode": min(t_fcm), "totals": [int(a), int(b)]}))
"""

# one engine alone in a fresh process: its peak RSS (and, for fvcore, its time)
ALONE = PRELUDE + r"""
engine = sys.argv[4]
m = build(engine == "flop_counter_mode")
rss0 = rss_kib()
fn = {"native": native, "flop_counter_mode": fcm, "fvcore": fvcore}[engine]
times = []
for _ in range(repeat):
    t = time.perf_counter(); total = fn(m); times.append(time.perf_counter() - t)
print(json.dumps({"seconds": min(times), "peak_rss_kib": rss_kib(), "rss_after_model_kib": rss0,
                  "total": int(total)}))
"""

MODELS = ("googlenet", "inception_v3", "vit_b_16")
ENGINES = ("native", "flop_counter_mode", "fvcore")
BATCHES = (1, 64)


def main() -> None:
    ap = speed_parser(repeat=9)
    ap.add_argument("--fvcore-repeat", type=int, default=1)
    a = ap.parse_args()
    if a.child:
        return _timing_all(a.repeat)
    if a.before:
        return _before_after(a)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for name in MODELS:
        for batch in BATCHES:
            timing = _child(TIMING, name, batch, a.repeat)
            for engine in ENGINES:
                alone = _child(ALONE, name, batch, a.fvcore_repeat if engine == "fvcore" else 1, engine)
                best = alone["seconds"] if engine == "fvcore" else timing[engine]
                rows.append({"model": name, "batch": batch, "engine": engine,
                             "best_s": round(best, 4),
                             "peak_rss_mib": round(alone["peak_rss_kib"] / 1024, 1),
                             "rss_before_count_mib": round(alone["rss_after_model_kib"] / 1024, 1),
                             "total": alone["total"]})
                print(rows[-1], flush=True)
    for r in rows:
        if r["engine"] == "native":
            same = {x["engine"]: x for x in rows if x["model"] == r["model"] and x["batch"] == r["batch"]}
            r["speedup_vs_fcm"] = round(same["flop_counter_mode"]["best_s"] / r["best_s"], 2)
            r["speedup_vs_fvcore"] = round(same["fvcore"]["best_s"] / r["best_s"], 1)
    cols = ["model", "batch", "engine", "best_s", "speedup_vs_fcm", "speedup_vs_fvcore",
            "peak_rss_mib", "rss_before_count_mib", "total"]
    write_text(os.path.join(a.out, "count_speed.csv"), csv_text(rows, cols))
    write_text(os.path.join(a.out, "count_speed.md"), _markdown(rows, cols, a))


def _timing_all(repeat: int) -> None:
    """Child of --before: the TIMING measurement for every (model, batch) in this process
    (process CPU seconds: under load, wall time mostly measures waiting for a core; best of
    ``repeat`` interleaved rounds after a warm-up round)."""
    import inception_cost
    out: dict = {"package": inception_cost.__file__}
    for name in MODELS:
        for batch in BATCHES:
            ns: dict = {}
            sys.argv = ["-c", name, str(batch), str(repeat)]
            code = TIMING.replace("print(json.dumps(", "RESULT = dict((")
            exec(code.replace("time.perf_counter()", "time.process_time()"), ns)
            out[f"{name}/{batch}"] = ns["RESULT"]
    print(json.dumps(out))


def _before_after(a) -> None:
    import before_after as ba
    res = ba.alternate(os.path.abspath(__file__), a.before, a.rounds, ["--repeat", str(a.repeat)])
    runs = res["runs"]
    rows, verdicts = [], []
    for name in MODELS:
        for batch in BATCHES:
            key = f"{name}/{batch}"
            totals = {tuple(r[key]["totals"]) for tree in runs.values() for r in tree}
            assert len(totals) == 1 and len(set(next(iter(totals)))) == 1, (key, totals)
            nb, na = ba.best(runs["before"], key, "native"), ba.best(runs["after"], key, "native")
            fb = ba.best(runs["before"], key, "flop_counter_mode")
            fa = ba.best(runs["after"], key, "flop_counter_mode")
            change = (na / fa) / (nb / fb)
            noise = ba.noise_band(fb, fa)
            v = ba.verdict(change, noise)
            verdicts.append((key, v, change, noise))
            rows.append(f"| {name} | {batch} | {nb:.4f} | {na:.4f} | {na / nb:.2f} | {fb:.4f} | "
                        f"{fa:.4f} | {nb / fb:.3f} | {na / fa:.3f} | {change:.2f} | {v} |")
    before = ba.commit_of(a.before)
    lines = [
        f"*before*: commit {before}; *after*: commit {ba.commit_of(ba.HERE)} (this tree).  "
        "Same measurement as above (native and FlopCounterMode interleaved in one process, "
        f"best of {a.repeat} rounds after a warm-up round) but in process CPU seconds (on a loaded "
        "machine wall time mostly measures waiting for a core), each checkout in fresh "
        f"subprocesses, {a.rounds} of each, alternated (before, after, after, before, ...), best "
        "subprocess kept.  FlopCounterMode is the same code in both columns: `native / FCM` "
        "cancels the load each subprocess ran under, and `change` = (native / FCM after) / "
        "(native / FCM before) is the verdict's number (noise band: how far FCM itself moved "
        "between the columns, at least 5%).  Totals (MACs) equal in every subprocess and "
        "between the two counters.",
        "",
        "| model | batch | native before (s) | native after (s) | after / before | FCM before (s) "
        "| FCM after (s) | native / FCM before | native / FCM after | change | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "- " + ba.load_line(res["loads"]),
        "- verdict: " + "; ".join(f"{k} {v} ({c:.2f}, noise ±{n:.0%})" for k, v, c, n in verdicts),
        f"- regenerate: `python benchmarks/bench_count.py --before DIR{ba.title_option(a)}` "
        f"(DIR: a checkout of {before})",
    ]
    print(ba.add_section(os.path.join(a.out, "count_speed.md"),
                         a.title or "Before/after the shared op capture (count vs "
                         "FlopCounterMode)", lines))


def _child(code: str, name: str, batch: int, repeat: int, *extra: str) -> dict:
    res = subprocess.run([sys.executable, "-c", code, name, str(batch), str(repeat), *extra],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _markdown(rows, cols, a) -> str:
    lines = ["# Counting speed: native (meta device) vs FlopCounterMode (meta model) vs fvcore (CPU forward)",
             "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs while measured), "
             f"Python {platform.python_version()}; native and FlopCounterMode timed interleaved in one "
             f"process, best of {a.repeat} rounds; fvcore best of {a.fvcore_repeat}; peak RSS from each "
             "engine alone in a fresh process.  `total` is MACs (native; FlopCounterMode "
             "FLOPs / 2) or fvcore-FLOPs (1 per MAC plus BN/pool terms).  Regenerate with "
             "`python benchmarks/bench_count.py`.",
             "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
