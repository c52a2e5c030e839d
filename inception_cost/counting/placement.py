"""Run a model on a device without ever touching the caller's model.

When the model's parameters and buffers are not all on the counting device, the
count runs on a deep copy whose tensors are replaced (through ``deepcopy``'s memo)
by tensors on that device, so the weights are never copied to it and a
parameter shared by two submodules stays shared in the copy.  The caller's
model is never moved, re-assigned or written to.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


def unwrap(model: nn.Module) -> nn.Module:
    """``nn.DataParallel`` / ``DistributedDataParallel`` -> the wrapped module (same work per sample)."""
    while isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def on_device(model: nn.Module, device: str) -> bool:
    dev = torch.device(device).type
    return all(t.device.type == dev for t in _tensors(model))


def _tensors(model: nn.Module) -> list[torch.Tensor]:
    return list(model.parameters()) + list(model.buffers())


def _placed(t: torch.Tensor, device: str) -> torch.Tensor:
    if device == "meta":
        new = torch.empty_like(t, device="meta")
    elif t.is_meta:
        new = torch.empty_like(t, device=device)
        if new.is_floating_point():
            new.normal_(0, 0.01) if new.dim() > 1 else new.fill_(1.0)
        else:
            new.zero_()
    else:
        new = t.detach().to(device, copy=True)
    if isinstance(t, nn.Parameter):
        return nn.Parameter(new, requires_grad=t.requires_grad)
    return new


def copy_on(model: nn.Module, device: str) -> nn.Module:
    """A copy of ``model`` with every parameter and buffer on ``device`` (sharing preserved)."""
    memo: dict[int, torch.Tensor] = {}
    with torch.inference_mode(False), torch.no_grad():
        for t in _tensors(model):
            if id(t) not in memo:
                memo[id(t)] = _placed(t, device)
    return copy.deepcopy(model, memo)
