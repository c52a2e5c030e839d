"""Benchmark: ``analyse_step`` (one training step, one op capture, two consumers) vs
``count_training`` + ``memory(training=True, foreach=False)`` run apart, on attention models
(run on fake CPU tensors, as ``memory`` runs them).

Models: a tiny net (one ``nn.MultiheadAttention`` and one ``nn.TransformerEncoderLayer``,
embedding 8, 2 heads, 4 tokens, batch 2), torchvision's ``VisionTransformer`` at 32x32 with
patch 16 (2 layers, 2 heads, width 16, batch 2) and ``vit_b_16(image_size=32)`` (batch 2).
SGD, target cuda.  *apart*: ``count_training(..., device="cpu")`` (the counts
``analyse_step`` equals: the same attention kernels; a real CPU step) + ``memory``;
*apart, meta counts*: ``count_training`` on meta (the math path: equal counts only where the
attention takes it) + ``memory``; *combined*: ``analyse_step``.  The first round checks the
combined results equal the apart ones; then best of ``--repeat`` interleaved rounds, process
CPU seconds (``time.process_time``).

Writes reports/benchmarks/one_capture_attention.md.  Usage:
    python benchmarks/one_capture_attention.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import pandas as pd
import torch
import torch.nn as nn

from inception_cost.atomic import write_text


class TinyAttention(nn.Module):
    """nn.MultiheadAttention + nn.TransformerEncoderLayer (no dropout) + a 3-class head."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        self.enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                              batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        a, _ = self.mha(x, x, x)
        return self.head(self.enc(a).mean(1))


def _models():
    import torchvision
    small = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=2,
                                                 num_heads=2, hidden_dim=16, mlp_dim=32,
                                                 num_classes=10)
    return {
        "tiny MHA + encoder layer, 2x4x8": (TinyAttention(), dict(inputs=torch.zeros(2, 4, 8))),
        "VisionTransformer 32px, 2 layers, width 16": (small, dict(input_size=(3, 32, 32))),
        "vit_b_16 at 32px": (torchvision.models.vit_b_16(image_size=32),
                             dict(input_size=(3, 32, 32))),
    }


def combined_vs_apart(model, given: dict, repeat: int) -> dict:
    """Best process CPU seconds of each way, and the checked figures."""
    from inception_cost import analyse_step, memory
    from inception_cost.counting.step_program import default_loss
    from inception_cost.counting.training import count_training
    from inception_cost.memory_analysis.step_config import outputs

    def counts(device: str):
        target = torch.zeros(2, dtype=torch.long, device=device)
        size = given.get("input_size")
        return count_training(model, None if size is None else (2, *size),
                              inputs=given.get("inputs"), optimizer="sgd", device=device,
                              loss=lambda out: default_loss(outputs(out), 0.3, target))

    def mem():
        return memory(model, given.get("input_size"), inputs=given.get("inputs"), batch=2,
                      training=True, optimizer="sgd", foreach=False)

    jobs = {
        "apart": lambda: (counts("cpu"), mem()),
        "apart_meta": lambda: (counts("meta"), mem()),
        "combined": lambda: analyse_step(model, given.get("input_size"),
                                         inputs=given.get("inputs"), batch=2, optimizer="sgd"),
    }
    (tr, m), both = jobs["apart"](), jobs["combined"]()          # warm-up round, and the check
    pd.testing.assert_frame_equal(tr.ops, both.training.ops)
    pd.testing.assert_frame_equal(tr.layers, both.training.layers)
    pd.testing.assert_frame_equal(m.timeline, both.memory.timeline)
    assert m.peak_bytes == both.memory.peak_bytes
    best: dict = dict.fromkeys(jobs)
    jobs["apart_meta"]()
    for _ in range(repeat):
        for key, fn in jobs.items():
            t = time.process_time()
            fn()
            t = time.process_time() - t
            best[key] = t if best[key] is None else min(best[key], t)
    best["step_flops"] = both.training.totals()["step_flops"]
    best["peak_bytes"] = both.memory.peak_bytes
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="reports/benchmarks/one_capture_attention.md")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    res = {n: combined_vs_apart(m, g, a.repeat) for n, (m, g) in _models().items()}
    rows = [f"| {n} | {r['apart']:.3f} | {r['apart_meta']:.3f} | {r['combined']:.3f} | "
            f"{r['apart'] / r['combined']:.2f}x | {r['step_flops']:,} | {r['peak_bytes']:,} |"
            for n, r in res.items()]
    text = "\n".join([
        "# One capture on attention models: analyse_step vs the two analyses apart",
        "",
        "Batch 2, SGD (per-parameter loop), target cuda; the step runs on fake CPU tensors "
        "(the models hold `nn.MultiheadAttention`).  *apart*: `count_training(..., "
        "device=\"cpu\")` (a real CPU step: the counts `analyse_step` equals, the attention "
        "kernels being the CPU dispatcher's on real and fake tensors alike) + "
        "`memory(training=True, foreach=False)`; *apart, meta counts*: `count_training` on "
        "meta (the math path) + the same `memory`; *combined*: `analyse_step` (its results "
        "checked equal to *apart* in the same run).  Best of "
        f"{a.repeat} interleaved rounds after a warm-up, process CPU seconds.",
        "",
        "| model | apart (s) | apart, meta counts (s) | combined (s) | apart / combined "
        "| step FLOPs | peak bytes |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other "
        f"work), Python {platform.python_version()}, torch {torch.__version__}.",
        "Regenerate: `python benchmarks/one_capture_attention.py`.",
        "",
    ])
    write_text(a.out, text, make_dirs=True)
    print(text)


if __name__ == "__main__":
    main()
