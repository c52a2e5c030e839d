"""The tensors of an output, in one place: an op's results, a torch function's result, a
model's forward output."""
from __future__ import annotations

import torch


def output_tensors(out, main_first: bool = False) -> list[torch.Tensor]:
    """The tensors ``out`` holds, in order: ``out`` itself when it is a tensor; the tensor
    items of a list or tuple (one level: a list or tuple inside it is not searched); a
    dict's tensor values in insertion order; nothing for anything else.

    ``main_first``: a dict's ``"out"`` tensor first (a model's main output, as
    torchvision's segmentation models name it; a training step's default loss reads the
    first tensor as the main output)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [o for o in out if isinstance(o, torch.Tensor)]
    if isinstance(out, dict):
        keys = [k for k, o in out.items() if isinstance(o, torch.Tensor)]
        if main_first and "out" in keys:
            keys.remove("out")
            keys.insert(0, "out")
        return [out[k] for k in keys]
    return []
