"""The memory plots ``inception-cost report`` writes: GoogLeNet's training step and
inference analysed by :func:`inception_cost.memory` (``by_name``: built by name), drawn by
:mod:`inception_cost.report.memory_plots`."""
from __future__ import annotations

import os

from ..by_name import memory
from ..report.memory_plots import module_bars, timeline_plot


def write_memory_plots(out: str, model: str = "googlenet", batch: int = 32,
                       optimizer: str = "adam") -> list[str]:
    """Timeline and per-module bars of ``model``'s training step (and the inference
    timeline) as PNGs under ``out``/plots; returns the paths relative to ``out``."""
    rels = []
    train = memory(model, batch=batch, training=True, optimizer=optimizer)
    infer = memory(model, batch=batch)
    for rel, draw in ((f"plots/{model}_memory_timeline_train.png",
                       lambda p: timeline_plot(train, p)),
                      (f"plots/{model}_memory_timeline_inference.png",
                       lambda p: timeline_plot(infer, p)),
                      (f"plots/{model}_memory_modules_train.png",
                       lambda p: module_bars(train, p))):
        draw(os.path.join(out, rel))
        rels.append(rel)
    return rels
