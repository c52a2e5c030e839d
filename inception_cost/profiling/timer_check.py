"""Cross-check: the profiler's whole-model median against
``torch.utils.benchmark.Timer(...).blocked_autorange()`` on the same prepared
model, input, dtype, layout and backend flags (Timer synchronizes CUDA itself).

``python -m inception_cost.profiling.timer_check googlenet --device cuda
--batch-size 32 --dtype bf16 --channels-last -o check.csv`` (appends)"""
from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch
from torch.utils.benchmark import Timer

from ..atomic import append_text
from .prepare import RunConfig, backend_settings, make_input, prepare_model
from .runner import Profiler


def timer_check(spec, device: str, batch: int, dtype: str = "fp32", channels_last: bool = False,
                input_size=None, min_run_time: float = 1.0) -> dict:
    """{variant, batch, dtype, channels_last, profile_median_ms, timer_median_ms, ratio}."""
    prof = Profiler(device)
    label = prof.add(spec, input_size=input_size)
    config = RunConfig(label, dtype, channels_last, batch=batch)
    row, _ = prof.run(config)
    module, chw = prof.models[label]
    with backend_settings(device, dtype), torch.inference_mode():
        model = prepare_model(module, config)
        x = make_input(chw, config, device, prof.seed)
        for _ in range(max(prof.warmup, 1)):
            model(x)
        measured = Timer("model(x)", globals={"model": model, "x": x},
                         num_threads=torch.get_num_threads()).blocked_autorange(
                             min_run_time=min_run_time)
    timer_ms = measured.median * 1e3
    return {"variant": label, "device_name": row["device_name"], "batch": batch, "dtype": dtype,
            "channels_last": channels_last, "profile_median_ms": row["median_ms"],
            "timer_median_ms": timer_ms, "ratio": row["median_ms"] / timer_ms}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inception_cost.profiling.timer_check")
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("-o", "--output", default=None)
    a = ap.parse_args(argv)
    rows = [timer_check(v, a.device, a.batch_size, a.dtype, a.channels_last) for v in a.variants]
    df = pd.DataFrame(rows)
    sys.stdout.write(df.to_csv(index=False, lineterminator="\n"))
    if a.output:  # appended, so several checks can share one file
        text = df.to_csv(index=False, lineterminator="\n")
        header, rows = text.split("\n", 1)
        append_text(a.output, rows, what="--output", header=header + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
