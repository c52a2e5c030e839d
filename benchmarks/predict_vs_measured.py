"""Benchmark: predicted vs measured CPU latency, after calibrating this machine.

1. ``calibrate`` (cpu) measures this machine's ceilings (GEMM, convolution, streaming
   bandwidth, per-op overhead) -> a device profile.
2. For every model and batch size (1 and 16; small inputs), the timing model predicts
   the eager forward latency from the recorded op stream on that profile, and
   ``inception_cost.profile`` measures it on the CPU in the same process (median and
   best of ``--iters`` timed forwards after a warm-up).
3. A training step (forward in train mode, cross-entropy loss, backward, SGD step) for
   five models: predicted vs measured (median and best of ``--iters`` steps).
4. Per-layer Spearman rank correlation of predicted vs measured self time per module
   (``profile --per-layer``) on googlenet, inception_v3 and resnet50.
5. Speed: ``predict`` of googlenet at 3 batch sizes x 3 devices (in-process, and the
   whole CLI process).
6. Predicted zoo latencies on three catalog devices and on this CPU; a roofline chart and a
   predicted-vs-measured scatter in reports/plots/.

Caveat written into the report: the CPU is shared, so measured times are noisy; the
calibration runs under the same load as the measurements, at the start and again at the end.
``--clock thread`` times calibration and measurements alike with ``time.thread_time`` (the
CPU seconds of this thread, which is the only one torch runs on with 1 thread) instead of
``time.perf_counter``: time the process spends descheduled by other jobs is left out, so
a loaded machine measures what a quiet one would (caches shared with other jobs still
slow it).
Writes reports/benchmarks/predict_vs_measured.{md,csv}, predict_layers_spearman.csv,
predict_zoo.md, cpu_profile.json and two plots.  Usage:
    python benchmarks/predict_vs_measured.py [--iters 5] [--quick] [--clock wall|thread]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import replace

import pandas as pd
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import inception_cost  # noqa: E402
from _common import sgd_step  # noqa: E402 - benchmarks/ is the script's folder
from inception_cost.atomic import write_text  # noqa: E402
from inception_cost.models.resolve import resolve_model  # noqa: E402
from inception_cost.timing_model.calibrate import calibrate, profile_json  # noqa: E402
from inception_cost.timing_model.devices import find_device  # noqa: E402
from inception_cost.timing_model.model import Terms, predict_events  # noqa: E402
from inception_cost.timing_model.record import record_forward, record_training  # noqa: E402

OUT = os.path.join(ROOT, "reports", "benchmarks")
PLOTS = os.path.join(ROOT, "reports", "plots")

# (model spec, C x H x W): small inputs keep the measurement affordable on 2 shared cores
FORWARD_MODELS = [
    ("googlenet", (3, 224, 224)),
    ("googlenet_torchvision", (3, 64, 64)),
    ("inception_v2", (3, 96, 96)),
    ("inception_v3", (3, 96, 96)),
    ("inception_v4", (3, 96, 96)),
    ("inception_resnet_v1", (3, 96, 96)),
    ("inception_resnet_v2", (3, 96, 96)),
    ("torchvision:resnet18", (3, 64, 64)),
    ("torchvision:resnet34", (3, 64, 64)),
    ("torchvision:resnet50", (3, 64, 64)),
    ("torchvision:resnext50_32x4d", (3, 64, 64)),
    ("torchvision:mobilenet_v2", (3, 64, 64)),
    ("torchvision:mobilenet_v3_small", (3, 64, 64)),
    ("torchvision:mobilenet_v3_large", (3, 64, 64)),
    ("torchvision:squeezenet1_0", (3, 64, 64)),
    ("torchvision:squeezenet1_1", (3, 64, 64)),
    ("torchvision:shufflenet_v2_x1_0", (3, 64, 64)),
    ("torchvision:densenet121", (3, 64, 64)),
    ("torchvision:efficientnet_b0", (3, 64, 64)),
    ("torchvision:convnext_tiny", (3, 64, 64)),
    ("torchvision:mnasnet1_0", (3, 64, 64)),
    ("torchvision:alexnet", (3, 64, 64)),
    ("torchvision:vgg11", (3, 64, 64)),
    ("torchvision:googlenet", (3, 64, 64)),
]
TRAIN_MODELS = [
    ("torchvision:resnet18", (3, 64, 64)),
    ("torchvision:mobilenet_v2", (3, 64, 64)),
    ("torchvision:squeezenet1_1", (3, 64, 64)),
    ("googlenet_torchvision", (3, 64, 64)),
    ("inception_v3", (3, 96, 96)),
]
TRAIN_BATCH = 8
SPEARMAN_MODELS = [("googlenet", (3, 224, 224)), ("inception_v3", (3, 299, 299)),
                   ("torchvision:resnet50", (3, 224, 224))]
ZOO = ["googlenet", "googlenet_torchvision", "bn_inception", "inception_v2", "inception_v3",
       "inception_v4", "inception_resnet_v1", "inception_resnet_v2"]
ZOO_DEVICES = ["T4", "A100 80GB", "H100 SXM"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def measure_forward(spec, chw, batches, iters):
    """{batch: (median ms, best ms)} from inception_cost.profile (eager, fp32, cpu)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = inception_cost.profile(spec, batch_sizes=list(batches), device="cpu", warmup=1,
                                   iters=iters, input_size=chw, notify=lambda m: None)
    return {int(row.batch): (float(row.median_ms), float(row.min_ms)) for row in r.itertuples()}


def measure_training(spec, chw, batch, iters):
    """(median ms, best ms) of a real training step on the CPU: forward (train mode),
    cross-entropy against class 0, backward, torch.optim.SGD(lr=0.01, foreach=False).step()."""
    model, _, _ = resolve_model(spec, device="cpu")
    model.train()
    step = sgd_step(model, torch.randn(batch, *chw))
    step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def predict_forward(spec, chw, batch, device):
    model, _, _ = resolve_model(spec)
    ev = record_forward(model, (batch, *chw))
    return predict_events(ev, device, "fp32", batch=batch, model_name=spec)


def bracket(a, b):
    """One profile from two calibrations of the same machine (start and end of the run):
    the geometric mean of every measured rate, bandwidth and overhead."""
    from dataclasses import replace

    def g(x, y):
        return math.sqrt(x * y)

    def gd(x, y):
        return {k: g(x[k], y[k]) for k in x if k in y}
    table = {k: [(px, g(r, dict(b.op_rate_table[k])[px])) for px, r in pts]
             for k, pts in a.op_rate_table.items() if k in b.op_rate_table}
    return replace(a, name=a.name.replace("(measured)", "(measured, start and end of run)"),
                   peaks_tflops=gd(a.peaks_tflops, b.peaks_tflops), bandwidth_gbs=g(a.bandwidth_gbs, b.bandwidth_gbs),
                   overhead_us=g(a.overhead_us, b.overhead_us), op_tflops=gd(a.op_tflops, b.op_tflops),
                   op_overhead_us=gd(a.op_overhead_us, b.op_overhead_us), op_rate_table=table,
                   cache_bandwidth_gbs=g(a.cache_bandwidth_gbs, b.cache_bandwidth_gbs)
                   if a.cache_bandwidth_gbs and b.cache_bandwidth_gbs else a.cache_bandwidth_gbs,
                   reorder_gbs=g(a.reorder_gbs, b.reorder_gbs) if a.reorder_gbs and b.reorder_gbs else a.reorder_gbs,
                   overhead_context=g(a.overhead_context, b.overhead_context)
                   if a.overhead_context and b.overhead_context else a.overhead_context,
                   op_overhead_context=gd(a.op_overhead_context, b.op_overhead_context))


def spearman(a, b) -> float:
    return float(pd.Series(a).rank().corr(pd.Series(b).rank()))


def error_pct(pred, meas) -> float:
    return 100.0 * (pred - meas) / meas


BUCKETS = [(-math.inf, -50), (-50, -25), (-25, 0), (0, 25), (25, 50), (50, math.inf)]


def buckets(errors) -> dict:
    """How many errors fall in each bucket (%, lower bound exclusive, upper inclusive)."""
    s = pd.Series(errors)
    out = {}
    for lo, hi in BUCKETS:
        name = (f"<= {hi}" if lo == -math.inf else f"> {lo}" if hi == math.inf else f"{lo}..{hi}")
        out[name] = int(((s > lo) & (s <= hi)).sum())
    return out


def distribution(errors) -> dict:
    s = pd.Series(errors)
    a = s.abs()
    return {"n": int(len(s)), "median error %": round(float(s.median()), 1),
            "median |error| %": round(float(a.median()), 1),
            "p90 |error| %": round(float(a.quantile(0.9)), 1), "max |error| %": round(float(a.max()), 1),
            "within 25 %": f"{int((a <= 25).sum())}/{len(s)}",
            "within 50 %": f"{int((a <= 50).sum())}/{len(s)}"}


def speed_check() -> dict:
    """predict of googlenet at batches 1,64,256 on three devices: in-process seconds (best of 3)
    and the wall time of one whole CLI process."""
    from inception_cost.cli import main
    best = float("inf")
    for _ in range(3):
        buf = io.StringIO()
        old = sys.stdout
        sys.stdout = buf
        t0 = time.perf_counter()
        try:
            main(["predict", "googlenet", "--on", "T4", "--on", "A100", "--on", "H100",
                  "--dtype", "fp16", "--batch", "1,64,256"])
        except SystemExit:
            pass
        finally:
            sys.stdout = old
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "inception_cost", "predict", "googlenet", "--on", "T4",
                    "--on", "A100", "--on", "H100", "--dtype", "fp16", "--batch", "1,64,256"],
                   check=True, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    return {"in_process_s": best, "cli_process_s": time.perf_counter() - t0}


def plots(rows: pd.DataFrame, roof_pred, device_name: str) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from inception_cost.atomic import save_with
    written = []
    # predicted vs measured scatter
    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    for batch, marker in ((1, "o"), (16, "s")):
        sub = rows[(rows["kind"] == "forward") & (rows["batch"] == batch)]
        ax.scatter(sub["measured_median_ms"], sub["predicted_ms"], marker=marker, label=f"forward, batch {batch}")
    sub = rows[rows["kind"] == "train"]
    ax.scatter(sub["measured_median_ms"], sub["predicted_ms"], marker="^", label=f"training step, batch {TRAIN_BATCH}")
    lo = max(1e-2, min(rows["measured_median_ms"].min(), rows["predicted_ms"].min()) / 2)
    hi = max(rows["measured_median_ms"].max(), rows["predicted_ms"].max()) * 2
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="predicted = measured")
    ax.fill_between([lo, hi], [lo * 0.75, hi * 0.75], [lo * 1.25, hi * 1.25], color="0.85", label="±25 %")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured median latency on this CPU (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title("Predicted vs measured, calibrated CPU profile (eager, fp32)")
    ax.legend(loc="upper left", fontsize=8)
    path = os.path.join(PLOTS, "predict_vs_measured_cpu.png")
    save_with(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    written.append(path)
    # roofline of one model on one catalog device
    p = roof_pred
    dev = p.device
    lay = p.layers[(p.layers["flops"] > 0) & (p.layers["bytes"] > 0)]
    peak = dev.peak(p.mode) * dev.compute_efficiency
    bw = dev.bandwidth_gbs * dev.memory_efficiency / 1e3     # TB/s
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    x = lay["flop_per_byte"]
    y = lay["flops"] / (lay["time_ms"] / 1e3) / 1e12
    colors = {"compute": "tab:red", "memory": "tab:blue", "overhead": "tab:gray"}
    for b, c in colors.items():
        sel = lay["bound"] == b
        ax.scatter(x[sel], y[sel], s=14, color=c, label=f"layers bound by {b}")
    xs = [1e-2, 1e4]
    ridge = peak / bw
    ax.plot([xs[0], ridge], [bw * xs[0], peak], "b-", lw=1.2, label=f"memory roof {bw * 1e3:.0f} GB/s x eff")
    ax.plot([ridge, xs[1]], [peak, peak], "r-", lw=1.2, label=f"compute roof {peak:.0f} TFLOP/s ({p.mode}) x eff")
    ax.annotate(f"ridge {ridge:.0f} FLOP/B", (ridge, peak), textcoords="offset points", xytext=(5, -15))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("predicted achieved TFLOP/s")
    ax.set_title(f"{p.model_name} batch {p.batch}, {device_name} {p.mode}: per-layer roofline (eager)")
    ax.legend(fontsize=8, loc="lower right")
    path = os.path.join(PLOTS, f"roofline_{p.model_name}_{device_name.replace(' ', '_').lower()}.png")
    save_with(path, lambda q: fig.savefig(q, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    written.append(path)
    return written


def md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join("" if (isinstance(v, float) and math.isnan(v)) else
                                       (f"{v:.3f}" if isinstance(v, float) else str(v)) for v in r) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="3 models, for a smoke run")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for calibration and measurement (default 1: on a "
                         "shared, oversubscribed CPU, OpenMP barriers make 2 threads ~20x slower)")
    ap.add_argument("--only-speed", action="store_true",
                    help="only the predict speed check -> reports/benchmarks/predict_speed.md")
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall",
                    help="wall: time.perf_counter; thread: time.thread_time (this thread's CPU "
                         "seconds) for calibration and every measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.clock == "thread":
        if args.threads != 1:
            ap.error("--clock thread needs --threads 1 (other threads' CPU time is not counted)")
        # calibrate, profile and the training loop read time.perf_counter at each call
        time.perf_counter = time.thread_time
    if args.only_speed:
        speed = speed_check()
        write_text(os.path.join(OUT, "predict_speed.md"), "\n".join([
            "# Speed of `inception-cost predict`", "",
            "`predict googlenet --on T4 --on A100 --on H100 --dtype fp16 --batch 1,64,256`: one op "
            "stream recorded per batch size (3), each device arithmetic over it (9 predictions), three "
            "per-layer tables and the totals rendered.", "",
            f"Generated by `python benchmarks/predict_vs_measured.py --only-speed` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f} "
            "on this machine's 2 shared cores.", "",
            f"- in process (record + arithmetic + render, best of 3): {speed['in_process_s']:.2f} s",
            f"- one whole CLI process (python start-up and imports included): {speed['cli_process_s']:.2f} s",
            ""]))
        log(f"speed: {speed}")
        return
    torch.manual_seed(0)
    # untrained models with small random weights drive activations into subnormal floats,
    # which x86 handles on a slow path; flushing them keeps the measurement about the model
    torch.set_flush_denormal(True)
    fwd_models = FORWARD_MODELS[:3] if args.quick else FORWARD_MODELS
    train_models = TRAIN_MODELS[:1] if args.quick else TRAIN_MODELS
    spear_models = SPEARMAN_MODELS[:1] if args.quick else SPEARMAN_MODELS

    loads = [os.getloadavg()[0]]
    t_start = time.time()
    log("calibrating (start)")
    cpu, measurements = calibrate("cpu")
    write_text(os.path.join(OUT, "cpu_profile.json"), json.dumps(profile_json(cpu, measurements), indent=2) + "\n")
    log(f"  fp32 GEMM {cpu.peaks_tflops['fp32'] * 1e3:.1f} GFLOP/s, conv 3x3 {cpu.op_tflops['convolution'] * 1e3:.1f} "
        f"GFLOP/s, {cpu.bandwidth_gbs:.2f} GB/s, {cpu.overhead_us:.2f} us/op, reorders {cpu.reorder_gbs or 0:.1f} GB/s, "
        f"overhead context x{cpu.overhead_context or 1:.2f}")

    rows = []
    failed = []
    for spec, chw in fwd_models:
        try:
            meas = measure_forward(spec, chw, (1, 16), args.iters)
        except Exception as e:  # noqa: BLE001 - recorded in the report, the run goes on
            failed.append(f"{spec}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            log(f"FAILED {failed[-1]}")
            continue
        for b in (1, 16):
            ev = record_forward(resolve_model(spec)[0], (b, *chw))
            p = predict_events(ev, cpu, "fp32", batch=b, model_name=spec)
            med, best = meas[b]
            rows.append(dict(kind="forward", model=spec, input="x".join(map(str, chw)), batch=b, _events=ev,
                             predicted_ms=p.totals["latency_ms"], measured_median_ms=med, measured_best_ms=best,
                             error_median_pct=error_pct(p.totals["latency_ms"], med),
                             error_best_pct=error_pct(p.totals["latency_ms"], best),
                             predicted_compute_ms=p.totals["compute_ms"], predicted_memory_ms=p.totals["memory_ms"],
                             predicted_overhead_ms=p.totals["overhead_ms"]))
            loads.append(os.getloadavg()[0])
            log(f"{spec} b{b}: predicted {p.totals['latency_ms']:.1f} ms, measured median {med:.1f} best {best:.1f}")
    for spec, chw in train_models:
        model, _, _ = resolve_model(spec)
        ev = record_training(model, (TRAIN_BATCH, *chw), optimizer="sgd")   # as measured: plain SGD
        p = predict_events(ev, cpu, "fp32", batch=TRAIN_BATCH, training=True, model_name=spec)
        med, best = measure_training(spec, chw, TRAIN_BATCH, args.iters)
        rows.append(dict(kind="train", model=spec, input="x".join(map(str, chw)), batch=TRAIN_BATCH, _events=ev,
                         predicted_ms=p.totals["latency_ms"], measured_median_ms=med, measured_best_ms=best,
                         error_median_pct=error_pct(p.totals["latency_ms"], med),
                         error_best_pct=error_pct(p.totals["latency_ms"], best),
                         predicted_compute_ms=p.totals["compute_ms"], predicted_memory_ms=p.totals["memory_ms"],
                         predicted_overhead_ms=p.totals["overhead_ms"]))
        log(f"train {spec}: predicted {p.totals['latency_ms']:.1f} ms, measured median {med:.1f} best {best:.1f}")

    spear_rows, layer_rows = [], []
    for spec, chw in spear_models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = inception_cost.profile(spec, batch_sizes=[1], device="cpu", warmup=1, iters=args.iters,
                                       input_size=chw, per_layer=True, notify=lambda m: None)
        meas = r.layers[["module", "time_ms"]]
        meas = meas[meas["module"] != ""]
        pred = predict_forward(spec, chw, 1, cpu).layers[["module", "time_ms"]]
        j = meas.merge(pred, on="module", suffixes=("_measured", "_predicted"))
        rho = spearman(j["time_ms_predicted"], j["time_ms_measured"])
        spear_rows.append(dict(model=spec, input="x".join(map(str, chw)), layers=len(j), spearman=round(rho, 3)))
        for row in j.itertuples(index=False):
            layer_rows.append(dict(model=spec, module=row.module, measured_ms=row.time_ms_measured,
                                   predicted_ms=row.time_ms_predicted))
        log(f"spearman {spec}: {rho:.3f} over {len(j)} layers")

    log("calibrating (end)")
    cpu_end, _ = calibrate("cpu")
    loads.append(os.getloadavg()[0])
    wall_s = time.time() - t_start
    # the prediction uses both calibrations, which bracket the measurements in time
    cpu_both = bracket(cpu, cpu_end)
    for row in rows:
        ev = row.pop("_events")
        p = predict_events(ev, cpu_both, "fp32", batch=row["batch"], training=row["kind"] == "train")
        row["predicted_start_ms"] = row["predicted_ms"]
        row["error_start_pct"] = row["error_median_pct"]
        warm = predict_events(ev, cpu_both, "fp32", batch=row["batch"], training=row["kind"] == "train",
                              terms=Terms(cold=False)).totals["latency_ms"]
        row["error_no_cold_pct"] = error_pct(warm, row["measured_median_ms"])
        loop = predict_events(ev, replace(cpu_both, overhead_context=None, op_overhead_context={}), "fp32", batch=row["batch"],
                              training=row["kind"] == "train").totals["latency_ms"]
        row["error_no_context_pct"] = error_pct(loop, row["measured_median_ms"])
        one = predict_events(ev, replace(cpu_both, op_overhead_context={}), "fp32", batch=row["batch"],
                             training=row["kind"] == "train").totals["latency_ms"]
        row["error_one_context_pct"] = error_pct(one, row["measured_median_ms"])
        row.update(predicted_ms=p.totals["latency_ms"],
                   error_median_pct=error_pct(p.totals["latency_ms"], row["measured_median_ms"]),
                   error_best_pct=error_pct(p.totals["latency_ms"], row["measured_best_ms"]),
                   predicted_compute_ms=p.totals["compute_ms"], predicted_memory_ms=p.totals["memory_ms"],
                   predicted_overhead_ms=p.totals["overhead_ms"], predicted_reorder_ms=p.totals["reorder_ms"])
    df = pd.DataFrame(rows)

    zoo_rows = []
    for name in ZOO:
        model, size, _ = resolve_model(name)
        for b in (1, 64):
            ev = record_forward(model, (b, *size))
            row = {"model": name, "input": "x".join(map(str, size)), "batch": b}
            for dname in ZOO_DEVICES:
                d = find_device(dname)
                row[f"{d.name} fp16 ms"] = round(predict_events(ev, d, "fp16", batch=b).totals["latency_ms"], 3)
            row["this CPU fp32 ms"] = round(predict_events(ev, cpu, "fp32", batch=b).totals["latency_ms"], 1)
            zoo_rows.append(row)
    roof = predict_events(record_forward(resolve_model("googlenet")[0], (64, 3, 224, 224), dtype="bf16"),
                          find_device("H100"), "bf16", batch=64, model_name="googlenet")
    written = plots(df, roof, "H100 SXM")

    fwd = df[df["kind"] == "forward"]
    trn = df[df["kind"] == "train"]
    dist = pd.DataFrame([
        {"set": "forward, batch 1", **distribution(fwd[fwd["batch"] == 1]["error_median_pct"])},
        {"set": "forward, batch 16", **distribution(fwd[fwd["batch"] == 16]["error_median_pct"])},
        {"set": f"training step, batch {TRAIN_BATCH}", **distribution(trn["error_median_pct"])},
        {"set": "all, vs best-of-N", **distribution(df["error_best_pct"])},
        {"set": "all, start calibration only", **distribution(df["error_start_pct"])},
        {"set": "forward b1, without the cold-bytes term", **distribution(fwd[fwd["batch"] == 1]["error_no_cold_pct"])},
        {"set": "forward b16, without the cold-bytes term", **distribution(fwd[fwd["batch"] == 16]["error_no_cold_pct"])},
        {"set": "training, without the cold-bytes term", **distribution(trn["error_no_cold_pct"])},
        {"set": "forward b1, without the overhead context factor", **distribution(fwd[fwd["batch"] == 1]["error_no_context_pct"])},
        {"set": "forward b16, without the overhead context factor", **distribution(fwd[fwd["batch"] == 16]["error_no_context_pct"])},
        {"set": "training, without the overhead context factor", **distribution(trn["error_no_context_pct"])},
        {"set": "forward b1, one context factor for every class", **distribution(fwd[fwd["batch"] == 1]["error_one_context_pct"])},
        {"set": "forward b16, one context factor for every class", **distribution(fwd[fwd["batch"] == 16]["error_one_context_pct"])},
        {"set": "training, one context factor for every class", **distribution(trn["error_one_context_pct"])},
    ])
    hist = pd.DataFrame([
        {"set": "forward, batch 1", **buckets(fwd[fwd["batch"] == 1]["error_median_pct"])},
        {"set": "forward, batch 16", **buckets(fwd[fwd["batch"] == 16]["error_median_pct"])},
        {"set": f"training step, batch {TRAIN_BATCH}", **buckets(trn["error_median_pct"])},
    ])
    write_text(os.path.join(OUT, "predict_vs_measured.csv"), df.to_csv(index=False, lineterminator="\n"))
    write_text(os.path.join(OUT, "predict_layers_spearman.csv"),
               pd.DataFrame(layer_rows).to_csv(index=False, lineterminator="\n"))
    show = df[["kind", "model", "input", "batch", "predicted_ms", "measured_median_ms", "measured_best_ms",
               "error_median_pct", "error_start_pct", "error_no_cold_pct", "error_no_context_pct", "error_one_context_pct", "predicted_compute_ms", "predicted_memory_ms",
               "predicted_overhead_ms", "predicted_reorder_ms"]]
    cal = pd.DataFrame([{"measurement": m.name, "value": round(m.value, 4), "unit": m.unit} for m in measurements])
    text = "\n".join([
        "# Predicted vs measured latency on this CPU",
        "",
        f"Generated by `python benchmarks/predict_vs_measured.py --iters {args.iters} --clock {args.clock}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {cpu.name}.",
        "",
        "**Caveat: this machine's 2 cores are shared with other jobs; the 1-minute load average was "
        f"{min(loads):.1f}-{max(loads):.1f} during the run (median {statistics.median(loads):.1f}; "
        f"{len(loads)} samples).** Every time below was measured under that load, the calibration too; "
        "medians and best-of-N are both given. Treat single numbers as noisy.",
        "",
        f"Clock: **{args.clock}** (" + ("`time.perf_counter`, wall time" if args.clock == "wall" else
                                         "`time.thread_time`: this thread's CPU seconds, for calibration and "
                                         "every measurement alike; time spent descheduled by other jobs is "
                                         "left out") + f"). The run took {wall_s / 60:.1f} minutes of wall time.",
        "",
        f"torch CPU threads: {args.threads} for calibration and every measurement (with 2 threads on "
        "this oversubscribed machine each op's OpenMP barrier waits for a descheduled thread, and "
        "a 0.25 GFLOP forward took 2.5-4.8 s instead of 0.2 s).",
        "",
        "Subnormal floats are flushed to zero (`torch.set_flush_denormal(True)`): the models run "
        "with untrained random weights, whose activations otherwise hit x86's slow subnormal path.",
        "",
        "Model: per op, max(FLOPs / achieved rate, bytes / achieved bandwidth) + overhead; the rate is "
        "the GEMM's, or a convolution class's (k x k, 1x1, depthwise, grouped; oneDNN or PyTorch's "
        "native kernel) from its calibrated table over output pixels, or a pooling / batch-norm "
        "class's; the bandwidth is the in-cache one when the op's bytes fit in the last-level cache, "
        "else the streaming one, except the bytes an op reads from a tensor no earlier op touched "
        "(weights, buffers, the input: cold bytes), which stream from memory when the forward's "
        "distinct bytes exceed the cache; a convolution on oneDNN adds its layout reorders (input, "
        "weight and output read and written once at the calibrated reorder bandwidth); the "
        "overhead is the op class's tiny call (the tiny add for other ops). Eager execution, no "
        "fusion; fp32; every overhead is multiplied by its class's calibrated context factor (the "
        "class's tiny calls timed call by call interleaved with every other class's, over the same "
        "calls grouped by class). `error_no_cold_pct`, `error_no_context_pct` and "
        "`error_one_context_pct`: the same prediction without the cold-bytes term, without any "
        "context factor, with one context factor (the whole chain's ratio) for every class.",
        "",
        "## Calibration (start of run)",
        "",
        md_table(cal),
        "",
        f"End of run: fp32 GEMM {cpu_end.peaks_tflops['fp32'] * 1e3:.1f} GFLOP/s, 3x3 oneDNN convolution at its largest size "
        f"{cpu_end.op_tflops['convolution'] * 1e3:.1f} GFLOP/s, {cpu_end.bandwidth_gbs:.2f} GB/s, "
        f"{cpu_end.overhead_us:.2f} us per op (start: {cpu.peaks_tflops['fp32'] * 1e3:.1f}, "
        f"{cpu.op_tflops['convolution'] * 1e3:.1f}, {cpu.bandwidth_gbs:.2f}, {cpu.overhead_us:.2f}).",
        "",
        "## Error distribution (predicted vs measured median; error = (predicted - measured) / measured)",
        "",
        "Predictions use the geometric mean of the start and end calibrations (they bracket the "
        "measurements; the machine's speed drifts between them); `error_start_pct` and the last row "
        "use the start calibration alone. The per-layer ranks use the start calibration.",
        "",
        md_table(dist),
        "",
        "How many models fall in each error bucket (%):",
        "",
        md_table(hist),
        "",
        "## Per-layer rank correlation (batch 1, self time per module from `profile --per-layer`)",
        "",
        md_table(pd.DataFrame(spear_rows)),
        "",
        "## Every model",
        "",
        md_table(show),
        "",
        "Speed of `predict`: [predict_speed.md](predict_speed.md) (`--only-speed`).",
        "",
        ("Models that could not run: " + "; ".join(failed)) if failed else "Every model ran.",
        "",
        "Plots: " + ", ".join(os.path.relpath(w, ROOT) for w in written),
        "",
    ])
    write_text(os.path.join(OUT, "predict_vs_measured.md"), text)
    zoo = pd.DataFrame(zoo_rows)
    write_text(os.path.join(OUT, "predict_zoo.md"), "\n".join([
        "# Predicted forward latency of the zoo (eager, no fusion)",
        "",
        f"Catalog GPUs in fp16 (tensor cores, FP32 accumulate) at the stated defaults (0.75 x peak, "
        f"0.8 x bandwidth, 5 us per op); this CPU in fp32 from its calibration ({cpu.name}, "
        "shared and loaded: see predict_vs_measured.md). Generated by benchmarks/predict_vs_measured.py.",
        "", md_table(zoo), ""]))
    log("done")


if __name__ == "__main__":
    main()
