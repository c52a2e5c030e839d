"""Diagnostic: where the CPU timing model's error sits, op class by op class.

For each model and batch size, the predicted time of every op (the timing model over the
recorded dispatch stream, on a calibrated CPU profile) is grouped by op class (convolution
k x k / 1x1 / depthwise / grouped, linear, batch norm, activation, pooling, cat, add/mul,
other) and put beside the measured time of the same classes: ``torch.profiler`` (CPU, one
torch thread, ``record_shapes``) over ``--iters`` inference forwards, each top-level aten
op's total CPU time (its children included: ``aten::conv2d`` holds ``mkldnn_convolution``
and its allocations).  The forward's time outside every aten op (the ``nn.Module`` calls'
Python) is its own row, ``(python)``; the model prices it 0.

Usage: python benchmarks/predict_op_errors.py [--profile FILE] [--iters 5] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from _common import sgd_step  # noqa: E402 - benchmarks/ is the script's folder
from inception_cost.atomic import write_text  # noqa: E402
from inception_cost.models.resolve import resolve_model  # noqa: E402
from inception_cost.timing_model.devices import find_device  # noqa: E402
from inception_cost.timing_model.model import CONV_OPS, op_time, predict_events  # noqa: E402
from inception_cost.timing_model.record import record_forward  # noqa: E402

MODELS = [("googlenet_torchvision", (3, 64, 64)), ("torchvision:resnet50", (3, 64, 64)),
          ("torchvision:mobilenet_v2", (3, 64, 64)), ("inception_v3", (3, 96, 96))]

ACT = {"relu", "relu_", "hardtanh", "hardtanh_", "silu", "silu_", "gelu", "sigmoid", "sigmoid_",
       "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "threshold", "clamp", "clamp_"}
POOL = {"max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d", "mean",
        "_adaptive_avg_pool2d", "avg_pool3d", "adaptive_max_pool2d", "max_pool3d"}
BN = {"batch_norm", "native_batch_norm", "_native_batch_norm_legit_no_training",
      "_batch_norm_impl_index", "_native_batch_norm_legit"}
LINEAR = {"linear", "addmm", "mm", "matmul"}
ELT = {"add", "add_", "mul", "mul_", "sub", "div"}


def conv_kind(x, w) -> str:
    if len(x) < 3 or len(w) < 3 or not w[1]:
        return "conv kxk"
    groups = x[1] // w[1]
    if groups > 1:
        return "conv depthwise" if w[1] == 1 else "conv grouped"
    return "conv 1x1" if all(k == 1 for k in w[2:]) else "conv kxk"


def op_class(name: str, shapes) -> str:
    name = name.split("::")[-1]
    if name in ("conv2d", *CONV_OPS):
        return conv_kind(tuple(shapes[0]), tuple(shapes[1]))
    if name in LINEAR:
        return "linear"
    if name in BN:
        return "batch norm"
    if name in ACT:
        return "activation"
    if name in POOL:
        return "pooling"
    if name == "cat":
        return "cat"
    if name in ELT:
        return "add/mul"
    return "other"


class _OpTimer(TorchDispatchMode):
    """Thread CPU seconds of every aten op the dispatcher runs (children included)."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        t0 = time.thread_time()
        out = func(*args, **(kwargs or {}))
        t = time.thread_time() - t0
        shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)] + [(), ()]
        self.ops.append((func.overloadpacket.__name__, shapes, t))
        return out


def measured(model, x, iters: int):
    """{class: ms per forward}, {class: op count}, forward ms, conv list [(kind, x shape,
    w shape, ms)] in call order.  Ops timed with ``time.thread_time`` inside a dispatch
    mode (median over ``iters`` forwards per op); the forward timed without it (median);
    their difference is the ``(python)`` row."""
    import statistics
    with torch.inference_mode():
        model(x)
        tot = []
        for _ in range(iters):
            t0 = time.thread_time()
            model(x)
            tot.append(time.thread_time() - t0)
        runs = []
        for _ in range(iters):
            with _OpTimer() as tm:
                model(x)
            runs.append(tm.ops)
    total = statistics.median(tot) * 1e3
    cls = defaultdict(float)
    cnt = defaultdict(int)
    convs = []
    inside = 0.0
    for i, (name, shapes, _) in enumerate(runs[0]):
        t = statistics.median(r[i][2] for r in runs) * 1e3
        c = op_class(name, shapes)
        if name in ("view", "t", "flatten", "reshape", "_reshape_alias", "expand", "detach") and c == "other":
            c = "views"
        cls[c] += t
        cnt[c] += 1
        inside += t
        if c.startswith("conv"):
            convs.append((c, shapes[0], shapes[1], t))
    cls["(python)"] = total - inside
    return dict(cls), dict(cnt), total, convs


BACKWARD = {"convolution_backward": "conv backward", "native_batch_norm_backward": "batch norm backward",
            "threshold_backward": "activation backward", "max_pool2d_with_indices_backward": "pooling backward",
            "avg_pool2d_backward": "pooling backward", "_adaptive_avg_pool2d_backward": "pooling backward"}


def train_class(name: str, shapes) -> str:
    """Op class of a training step's op: backward kernels by name, ``add_``/``mul_`` on a
    parameter-shaped tensor after the loss as the optimizer, else the forward classes."""
    name = name.split("::")[-1]
    return BACKWARD.get(name) or op_class(name, shapes)


def measured_train(model, x, iters: int):
    """{class: ms} of one training step (forward, cross-entropy against class 0, backward,
    SGD(foreach=False) step), ops timed as in :func:`measured`, and the step's median ms."""
    import statistics
    step = sgd_step(model, x)
    step()
    tot = []
    for _ in range(iters):
        t0 = time.thread_time()
        step()
        tot.append(time.thread_time() - t0)
    runs = []
    for _ in range(iters):
        with _OpTimer() as tm:
            step()
        runs.append(tm.ops)
    n = min(len(r) for r in runs)
    cls = defaultdict(float)
    cnt = defaultdict(int)
    for i in range(n):
        name, shapes, _ = runs[0][i]
        c = train_class(name, shapes)
        cls[c] += statistics.median(r[i][2] for r in runs) * 1e3
        cnt[c] += 1
    total = statistics.median(tot) * 1e3
    cls["(python)"] = total - sum(v for k, v in cls.items())
    return dict(cls), dict(cnt), total


def predicted(events, device):
    cls = defaultdict(float)
    cnt = defaultdict(int)
    convs = []
    for ev in events:
        if ev.free:
            continue
        shapes = [f.shape for f in ev.inputs] + [(), ()]
        c = train_class(ev.op, shapes)
        t = op_time(ev, device, "fp32").time_s * 1e3
        cls[c] += t
        cnt[c] += 1
        if c.startswith("conv"):
            convs.append((c, tuple(shapes[0]), tuple(shapes[1]), t, ev.flops, ev.bytes))
    return dict(cls), dict(cnt), convs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default=os.path.join(ROOT, "reports", "benchmarks", "cpu_profile.json"))
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--out", default=None)
    ap.add_argument("--convs", default=None, help="CSV of every convolution, measured vs predicted")
    ap.add_argument("--train", action="store_true", help="one training step at batch 8 instead")
    ap.add_argument("--models", default=None,
                    help="comma-separated MODEL@CxHxW (default: googlenet_torchvision, resnet50, "
                         "mobilenet_v2 at 3x64x64, inception_v3 at 3x96x96)")
    args = ap.parse_args()
    if args.models:
        MODELS[:] = [(m.split("@")[0], tuple(int(v) for v in m.split("@")[1].split("x")))
                     for m in args.models.split(",")]
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    device = find_device(args.profile)
    rows, conv_rows = [], []
    if args.train:
        from inception_cost.timing_model.record import record_training
        for spec, chw in MODELS:
            model, _, _ = resolve_model(spec, device="cpu")
            model.train()
            ev = record_training(model, (8, *chw))
            pc, pn, _ = predicted(ev, device)
            mc, mn, total = measured_train(model, torch.randn(8, *chw), args.iters)
            ptotal = predict_events(ev, device, "fp32", batch=8, training=True).totals["latency_ms"]
            for c in sorted(set(pc) | set(mc), key=lambda k: -mc.get(k, 0)):
                rows.append(dict(model=spec, batch=8, cls=c, n_pred=pn.get(c, 0), n_meas=mn.get(c, 0),
                                 pred_ms=round(pc.get(c, 0.0), 3), meas_ms=round(mc.get(c, 0.0), 3),
                                 ratio=round(mc.get(c, 0.0) / pc[c], 2) if pc.get(c) else float("nan")))
            rows.append(dict(model=spec, batch=8, cls="TOTAL", n_pred=sum(pn.values()), n_meas=sum(mn.values()),
                             pred_ms=round(ptotal, 3), meas_ms=round(total, 3), ratio=round(total / ptotal, 2)))
            print(f"[{time.strftime('%H:%M:%S')}] train {spec}: predicted {ptotal:.2f} ms, measured {total:.2f} ms",
                  flush=True)
        print(pd.DataFrame(rows).to_string(index=False))
        if args.out:
            write_text(args.out, pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))
        return
    for spec, chw in MODELS:
        model, _, _ = resolve_model(spec, device="cpu")
        model.eval()
        for b in (int(v) for v in args.batches.split(",")):
            x = torch.randn(b, *chw)
            ev = record_forward(model, (b, *chw))
            pc, pn, pconv = predicted(ev, device)
            mc, mn, total, mconv = measured(model, x, args.iters)
            ptotal = predict_events(ev, device, "fp32", batch=b).totals["latency_ms"]
            for c in sorted(set(pc) | set(mc), key=lambda k: -mc.get(k, 0)):
                rows.append(dict(model=spec, batch=b, cls=c, n_pred=pn.get(c, 0), n_meas=mn.get(c, 0),
                                 pred_ms=round(pc.get(c, 0.0), 3), meas_ms=round(mc.get(c, 0.0), 3),
                                 ratio=round(mc.get(c, 0.0) / pc[c], 2) if pc.get(c) else float("nan")))
            rows.append(dict(model=spec, batch=b, cls="TOTAL", n_pred=sum(pn.values()), n_meas=sum(mn.values()),
                             pred_ms=round(ptotal, 3), meas_ms=round(total, 3), ratio=round(total / ptotal, 2)))
            if len(pconv) == len(mconv):
                for (k, xs, ws, t, fl, by), (_, _, _, mt) in zip(pconv, mconv):
                    conv_rows.append(dict(model=spec, batch=b, kind=k, x=xs, w=ws, flops=fl, bytes=by,
                                          pred_ms=t, meas_ms=mt))
            print(f"[{time.strftime('%H:%M:%S')}] {spec} b{b}: predicted {ptotal:.2f} ms, profiled {total:.2f} ms",
                  flush=True)
    df = pd.DataFrame(rows)
    text = df.to_string(index=False)
    print(text)
    if args.out:
        write_text(args.out, df.to_csv(index=False, lineterminator="\n"))
    if args.convs:
        write_text(args.convs, pd.DataFrame(conv_rows).to_csv(index=False, lineterminator="\n"))


if __name__ == "__main__":
    main()
