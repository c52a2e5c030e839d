"""The README's "Training step cost" numbers, computed (``reports/training/step_cost.md``).

Two tables: forward vs backward vs optimizer for the Inception family and two
baselines, and where the "backward = 2 x forward" rule fails and by how much. Every
number comes from :func:`inception_cost.counting.training.count_training`."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..counting.training import TrainingReport, count_training
from ..models.registry import build
from ..report.render import to_markdown
from ..report.training_reports import REPORT_BATCH, REPORT_OPTIMIZER
from .run_counts import RunCounts

MODELS = [("googlenet", {"aux": True}, "GoogLeNet (aux heads on)"),
          ("googlenet", {}, "GoogLeNet (no aux heads)"),
          ("inception_v3", {"aux": True}, "Inception-v3 (aux head on)"),
          ("inception_v4", {}, "Inception-v4"),
          ("inception_resnet_v2", {}, "Inception-ResNet-v2"),
          ("resnet50", {}, "ResNet-50"),
          ("vgg16", {}, "VGG16")]


def _g(v: int) -> str:
    return f"{v / 1e9:,.2f}"


def _step(model, chw, **kw):
    return count_training(model, (REPORT_BATCH, *chw), optimizer=kw.pop("optimizer", REPORT_OPTIMIZER), **kw)


Steps = Callable[..., TrainingReport]

STEP_COST_OPTIMIZERS = ("adamw",)
"""Optimizers the models table compares with the report's own (:data:`REPORT_OPTIMIZER`)."""


def extra_optimizers(name: str, **options) -> tuple[str, ...]:
    """The optimizers besides the report's own that the models table counts for variant
    ``name`` built with ``options`` (to be counted in the same pass as the report's step)."""
    return STEP_COST_OPTIMIZERS if (name, options) in [(n, o) for n, o, _ in MODELS] else ()


def default_steps(counts: RunCounts | None = None) -> Steps:
    """``steps(name, optimizer=REPORT_OPTIMIZER, **options)``: one step of a zoo variant at the
    report's batch, counted once per run (``counts``: the run's counts, shared with
    ``reports/training/``; default: new ones)."""
    counts = counts if counts is not None else RunCounts()

    def steps(name: str, optimizer: str = REPORT_OPTIMIZER, **options) -> TrainingReport:
        return counts.training(name, optimizer, also=extra_optimizers(name, **options), **options)
    return steps


def models_table(steps: Steps):
    import pandas as pd
    rows = []
    for name, opts, label in MODELS:
        r = steps(name, **opts)
        t, a = r.totals(), r.aux_totals()
        adamw = steps(name, "adamw", **opts).totals()
        rows.append({"model": label, "forward GMACs": _g(t["fwd_macs"]),
                     "backward GMACs (input / weight)": f"{_g(t['bwd_macs'])} ({_g(t['bwd_input_macs'])} / "
                                                        f"{_g(t['bwd_weight_macs'])})",
                     "bwd/fwd": f"{t['bwd_macs'] / t['fwd_macs']:.3f}",
                     "step GFLOPs": _g(t["step_flops"]),
                     "optimizer GFLOPs (sgd momentum / adamw)": f"{_g(t['opt_flops'])} / {_g(adamw['opt_flops'])}",
                     "optimizer % of step (sgd m. / adamw)":
                         f"{100 * t['opt_flops'] / t['step_flops']:.2f} / "
                         f"{100 * adamw['opt_flops'] / adamw['step_flops']:.2f}",
                     "training-only heads, % of step MACs":
                         f"{100 * a['step_macs'] / t['step_macs']:.2f}" if r.aux_modules else ""})
    return pd.DataFrame(rows)


def _layer(r, module):
    """A top-level module's row (its layers summed)."""
    return r.by_module(depth=1).set_index("module").loc[module]


class _Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def rule_table(steps: Steps):
    """Where backward != 2 x forward: first layer, frozen backbones, batch norm,
    attention kernels, grouped convolutions (and FlopCounterMode on them)."""
    import pandas as pd
    rows = []
    g = steps("googlenet")
    c1 = _layer(g, "conv1")
    t = g.totals()
    rows.append({"case": "first layer: GoogLeNet conv1 (input = image, no input gradient)",
                 "bwd/fwd": f"{c1.bwd_macs / c1.fwd_macs:.2f}",
                 "effect": f"whole network {t['bwd_macs'] / t['fwd_macs']:.3f} instead of 2 "
                           f"(conv1 is {100 * c1.fwd_macs / t['fwd_macs']:.1f}% of forward MACs)"})
    for freeze, label in (("stem,layer*", "ResNet-50, linear probe (only fc trained)"),
                          ("stem,layer1,layer2,layer3", "ResNet-50, fine-tune layer4 + fc")):
        r = _step(build("resnet50"), (3, 224, 224), freeze=freeze)
        t = r.totals()
        rows.append({"case": f"frozen backbone: {label}", "bwd/fwd": f"{t['bwd_macs'] / t['fwd_macs']:.3f}",
                     "effect": f"step = {t['step_macs'] / t['fwd_macs']:.2f} x forward MACs (full training: "
                               f"{_full_ratio(steps('resnet50')):.2f} x)"})
    v3 = steps("inception_v3")
    bn = v3.layers[v3.layers["module_type"] == "BatchNorm2d"]
    fwd, bwd = int(bn["fwd_flops"].sum()), int(bn["bwd_flops"].sum())
    tv = v3.totals()
    rows.append({"case": f"batch norm (training): Inception-v3's {len(bn)} BN layers, FLOPs (no MACs)",
                 "bwd/fwd": f"{bwd / fwd:.2f}",
                 "effect": f"{100 * (fwd + bwd) / (tv['fwd_flops'] + tv['bwd_flops']):.2f}% of forward+backward "
                           f"FLOPs; 7 FLOPs/element forward, 8 + 4 + 1 backward"})
    qkv = [torch.randn(1, 12, 197, 64, requires_grad=True) for _ in range(3)]
    meta = count_training(_Attention(), inputs=tuple(qkv), loss=lambda o: o.sum(), optimizer=None).totals()
    cpu = count_training(_Attention(), inputs=tuple(qkv), loss=lambda o: o.sum(), optimizer=None,
                         device="cpu").totals()
    rows.append({"case": "attention (ViT-B/16 head shape 197x64, 12 heads): math path vs fused kernel",
                 "bwd/fwd": f"{meta['bwd_macs'] / meta['fwd_macs']:.2f} / {cpu['bwd_macs'] / cpu['fwd_macs']:.2f}",
                 "effect": "fused kernels (CPU flash, CUDA flash/efficient/cuDNN) recompute q k^T in "
                           "backward: 5 matmuls instead of 4"})
    try:
        import torchvision
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # pragma: no cover - torchvision is a test dependency
        return pd.DataFrame(rows)
    for name in ("efficientnet_b0", "convnext_tiny"):
        with torch.device("meta"):
            m = torchvision.models.get_model(name, weights=None)
        r = count_training(m, (REPORT_BATCH, 3, 224, 224), optimizer=None)
        t = r.totals()
        ours = 2 * (t["fwd_macs"] + t["bwd_macs"])
        fcm = FlopCounterMode(display=False)
        with torch.device("meta"):
            ref = torchvision.models.get_model(name, weights=None).train()
        with fcm:
            out = ref(torch.empty(REPORT_BATCH, 3, 224, 224, device="meta"))
            F.cross_entropy(out, torch.zeros(REPORT_BATCH, dtype=torch.long, device="meta")).backward()
        rows.append({"case": f"grouped/depthwise convs: torchvision {name}",
                     "bwd/fwd": f"{t['bwd_macs'] / t['fwd_macs']:.3f}",
                     "effect": f"FlopCounterMode counts each depthwise weight gradient as a dense conv: "
                               f"{fcm.get_total_flops() / 1e9:,.1f} GFLOPs vs exact {ours / 1e9:,.1f} "
                               f"({fcm.get_total_flops() / ours:.1f} x)"})
    return pd.DataFrame(rows)


def _full_ratio(report: TrainingReport) -> float:
    t = report.totals()
    return t["step_macs"] / t["fwd_macs"]


def step_cost_markdown(counts: RunCounts | None = None) -> str:
    """Both tables as Markdown; ``counts``: see :func:`default_steps`."""
    steps = default_steps(counts)
    a = to_markdown(models_table(steps), f"Forward vs backward vs optimizer: one training step, batch "
                                    f"{REPORT_BATCH} (paper builds from the zoo)",
                    ["MACs = multiply-accumulates; backward = input-gradient + weight-gradient work; "
                     "step FLOPs = forward + backward + optimizer (sgd momentum 0.9: 4 FLOPs per "
                     "parameter element; adamw: 14 + 1 per tensor)"])
    b = to_markdown(rule_table(steps), f"Where 'backward = 2 x forward' fails (batch {REPORT_BATCH})",
                    ["bwd/fwd: backward MACs / forward MACs (FLOPs for batch norm)",
                     "regenerate: `inception-cost report` (reports/training/step_cost.md)"])
    return a + "\n" + b
