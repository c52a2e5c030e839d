"""Diagnostic: does the oneDNN reorder term explain per-convolution error?

Inputs: one profile from ``calibrate`` (with the reorder term: ``reorder_gbs`` set, its
convolution rates computed with their reorders taken out) and the per-convolution
measurements written by ``predict_op_errors.py --convs FILE`` (thread CPU time of each
convolution inside the models' forwards).  Two predictions of every convolution:

* with the term: the profile as calibrated;
* without it: the same calibration measurements turned into the older model (each table
  rate = FLOPs / (median time - the class's tiny call), no reorder term).

Both leave out the overhead context factor, so only the reorder term differs.  Printed
per kernel (oneDNN / native) and batch: the sums, and the mean and standard deviation of
log(measured / predicted); a term that explains shape-dependent time lowers the spread.

Usage: python benchmarks/reorder_ab.py PROFILE CONVS_CSV
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from inception_cost.models.resolve import resolve_model  # noqa: E402
from inception_cost.timing_model.calibrate import _counted, _op_kernels  # noqa: E402
from inception_cost.timing_model.devices import find_device  # noqa: E402
from inception_cost.timing_model.model import CONV_OPS, op_time, runs_on_onednn  # noqa: E402
from inception_cost.timing_model.record import record_forward  # noqa: E402

MODELS = [("googlenet_torchvision", (3, 64, 64)), ("torchvision:resnet50", (3, 64, 64)),
          ("torchvision:mobilenet_v2", (3, 64, 64)), ("inception_v3", (3, 96, 96))]


def without_reorders(profile_path: str):
    """(the profile, the older model from the same measurements), both without the
    overhead context factor."""
    new = find_device(profile_path)
    with open(profile_path, encoding="utf-8") as fh:
        ms = {m["name"]: m for m in json.load(fh)["measurements"]}
    torch.set_num_threads(new.threads or 1)
    old_table = {}
    for k in _op_kernels("cpu", False, False):
        if k.key not in new.op_rate_table:
            continue
        tiny = ms[f"{k.key} overhead (tiny call)"]["median_s"]
        pts = []
        for px, fn in k.table or []:
            t = ms[f"{k.label} at {px} output pixels"]["median_s"]
            pts.append((float(px), _counted(fn)[0] / max(t - tiny, t / 2) / 1e12))
        old_table[k.key] = sorted(pts)
    old = dataclasses.replace(new, op_rate_table=old_table, reorder_gbs=None, overhead_context=None,
                              op_overhead_context={},
                              op_tflops={**new.op_tflops, **{k: v[-1][1] for k, v in old_table.items()}})
    return dataclasses.replace(new, overhead_context=None, op_overhead_context={}), old


def main() -> None:
    new, old = without_reorders(sys.argv[1])
    convs = pd.read_csv(sys.argv[2])
    rows = []
    for spec, chw in MODELS:
        model = resolve_model(spec)[0]
        for b in (1, 16):
            evs = [e for e in record_forward(model, (b, *chw)) if e.op in CONV_OPS]
            meas = convs[(convs.model == spec) & (convs.batch == b)]
            if len(meas) != len(evs):
                print(f"{spec} b{b}: {len(meas)} measured, {len(evs)} recorded convolutions; left out")
                continue
            for e, mt in zip(evs, meas.meas_ms):
                rows.append(dict(onednn=runs_on_onednn(e, new.threads), b=b, meas=mt,
                                 old=op_time(e, old, "fp32").time_s * 1e3,
                                 new=op_time(e, new, "fp32").time_s * 1e3))
    d = pd.DataFrame(rows)
    for (on, b), g in d.groupby(["onednn", "b"]):
        lo, ln = np.log(g.meas / g.old), np.log(g.meas / g.new)
        print(f"{'oneDNN' if on else 'native'} batch {b}: {len(g)} convolutions; measured {g.meas.sum():.1f} ms, "
              f"predicted without reorders {g.old.sum():.1f}, with {g.new.sum():.1f}; log(measured/predicted) "
              f"mean {lo.mean():+.2f} sd {lo.std():.2f} without, {ln.mean():+.2f} sd {ln.std():.2f} with")


if __name__ == "__main__":
    main()
