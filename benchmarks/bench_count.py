"""Benchmark: native meta-device counting vs fvcore (real CPU forward).

Each (model, engine, batch) runs in a fresh subprocess so its peak RSS is its own.
Writes reports/benchmarks/count_speed.csv and .md.  Usage:
    python benchmarks/bench_count.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, warnings, logging
warnings.simplefilter("ignore")
import torch, torchvision
from inception_cost import count
name, engine, batch, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
kw = dict(weights=None, aux_logits=False, init_weights=False)
size = 299 if name == "inception_v3" else 224
m = torchvision.models.get_model(name, **kw).eval()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(repeat):
    t = time.perf_counter()
    if engine == "native":
        r = count(m, (batch, 3, size, size))
        total = r.total_macs
    else:
        from fvcore.nn import FlopCountAnalysis
        logging.getLogger("fvcore").setLevel(logging.ERROR)
        x = torch.randn(batch, 3, size, size)
        total = FlopCountAnalysis(m, x).unsupported_ops_warnings(False).total()
        del x
    times.append(time.perf_counter() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "peak_rss_kib": rss,
                  "rss_after_model_kib": rss0, "total": int(total)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="reports/benchmarks")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for name in ("googlenet", "inception_v3"):
        for batch in (1, 64):
            for engine in ("native", "fvcore"):
                res = subprocess.run([sys.executable, "-c", CHILD, name, engine, str(batch), str(a.repeat)],
                                     capture_output=True, text=True, check=True)
                d = json.loads(res.stdout.strip().splitlines()[-1])
                rows.append({"model": name, "batch": batch, "engine": engine,
                             "median_s": round(d["seconds"], 4),
                             "peak_rss_mib": round(d["peak_rss_kib"] / 1024, 1),
                             "rss_before_count_mib": round(d["rss_after_model_kib"] / 1024, 1),
                             "total": d["total"]})
                print(rows[-1], flush=True)
    for r in rows:
        if r["engine"] == "native":
            fv = next(x for x in rows if x["engine"] == "fvcore" and x["model"] == r["model"]
                      and x["batch"] == r["batch"])
            r["speedup_vs_fvcore"] = round(fv["median_s"] / r["median_s"], 1)
    cols = ["model", "batch", "engine", "median_s", "speedup_vs_fvcore", "peak_rss_mib",
            "rss_before_count_mib", "total"]
    with open(os.path.join(a.out, "count_speed.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    with open(os.path.join(a.out, "count_speed.md"), "w") as fh:
        fh.write(f"# Counting speed: native (meta device) vs fvcore (CPU forward)\n\n"
                 f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                 f"median of {a.repeat} runs, each configuration in a fresh process. "
                 "`total` is MACs (native) or fvcore-FLOPs (fvcore; 1 per MAC plus BN/pool terms).\n\n")
        fh.write("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n")
        for r in rows:
            fh.write("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |\n")


if __name__ == "__main__":
    main()
