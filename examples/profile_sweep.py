"""Time Inception variants on the default device and see where MACs turn into time.

    python examples/profile_sweep.py                       # cuda if available, else cpu
    python examples/profile_sweep.py --device cpu --batch 1,4 --output sweep.csv
    python examples/profile_sweep.py --device cpu --variants inception_naive --iters 2   # quick

Every finished configuration is appended to --output at once, so an interrupted
sweep keeps what it measured; CUDA out-of-memory at one batch size becomes a row
with status "oom" and the sweep continues.
"""
from __future__ import annotations

import argparse

import torch

from inception_cost.profiling import profile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    ap.add_argument("--batch", "--batch-sizes", dest="batch", default="1,8",
                    help="comma-separated batch sizes, e.g. 1,32,256")
    ap.add_argument("--variants", default="googlenet,inception_v3",
                    help="comma-separated variants for the first sweep")
    ap.add_argument("--iters", type=int, default=None,
                    help="timed iterations (default: the profiler's; 5 on CPU)")
    ap.add_argument("--output", default=None, help="CSV to append each configuration to")
    args = ap.parse_args()
    batches = [int(b) for b in args.batch.split(",")]
    iters = args.iters
    cuda = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")

    # On a GPU: fp32 against bf16 + channels_last, eager and replayed as a CUDA graph.
    # On a CPU: fp32 eager only (CUDA graphs and tf32 need a GPU).
    runs = profile(args.variants.split(","), batch_sizes=batches, device=args.device,
                   dtype=["fp32", "bf16"] if cuda else "fp32",
                   channels_last=[False, True] if cuda else False,
                   cuda_graphs=[False, True] if cuda else False,
                   warmup=None if cuda else 1, iters=iters or (None if cuda else 5),
                   output=args.output, progress=True, notify=print)
    cols = ["variant", "dtype", "channels_last", "cuda_graphs", "batch", "status", "median_ms",
            "images_per_s", "achieved_tflops", "pct_of_peak", "peak_mem_bytes"]
    print(runs[cols].to_string(index=False))
    print(runs.environment["device_name"], "| torch", runs.environment["torch"])

    # The GoogLeNet Fig. 2 pair: how much of the 1x1-reduction MAC saving is a time saving?
    pair = profile(["inception_naive", "inception_reduced"], batch_sizes=batches,
                   device=args.device, warmup=None if cuda else 1, iters=iters or (None if cuda else 5),
                   notify=print)
    print(pair.comparison.to_string(index=False))

    # Per-layer self times on the roofline (eager only), slowest first.
    layers = profile("inception_naive", batch_sizes=[batches[-1]], device=args.device,
                     per_layer=True, warmup=None if cuda else 1, iters=iters or (None if cuda else 5),
                     notify=print).layers
    print(layers.sort_values("time_ms", ascending=False)[
        ["module", "ops", "time_ms", "macs", "achieved_tflops", "intensity_flop_per_byte",
         "bound", "pct_of_roofline"]].head(8).to_string(index=False))


if __name__ == "__main__":
    main()
