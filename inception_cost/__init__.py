"""inception-cost: exact, labelled parameter / MAC / FLOP counts for CNNs.

The public names are loaded on first use (PEP 562), so importing the package,
or running ``inception-cost --help``, does not import torch.
"""
from __future__ import annotations

import importlib

from .errors import InceptionCostError, UsageError

__version__ = "0.1.0"

_LAZY = {"count": ".counting", "CostReport": ".counting", "build": ".models",
         "variants": ".models", "profile": ".profiling", "predict": ".timing_model",
         "memory": ".by_name", "fit_batch": ".by_name", "analyse_step": ".by_name",
         "checkpoint_plan": ".by_name", "apply_checkpointing": ".checkpointing"}
"""Where each public name lives.  ``memory``, ``fit_batch``, ``analyse_step`` and
``checkpoint_plan`` come from ``by_name``: they take an ``nn.Module`` or a model name,
and build a named model before the memory analysis (which takes modules only) runs."""

__all__ = ["count", "build", "variants", "profile", "memory", "fit_batch", "analyse_step",
           "predict", "apply_checkpointing", "checkpoint_plan", "CostReport",
           "InceptionCostError", "UsageError", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'inception_cost' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
