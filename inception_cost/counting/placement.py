"""Run a model on a device without ever touching the caller's model.

A count runs on a copy of the model (its module objects copied, their parameters
and buffers replaced by tensors on the counting device), so a parameter shared by
two submodules stays shared in the copy.  Parameters already on that device are
reused as they are (no copy of the weights); buffers are cloned, because a forward
writes them (batch-norm running statistics).  A model already on the meta device
holds no values and runs as it is.  The caller's model is never moved,
re-assigned or written to.
"""
from __future__ import annotations

import copy
import sys

import torch
import torch.nn as nn


def _compiled(model: nn.Module) -> bool:
    """True for a ``torch.compile``d module (an ``OptimizedModule``; checked without
    importing torch._dynamo, which a compiled model has imported already)."""
    dynamo = sys.modules.get("torch._dynamo.eval_frame")
    return dynamo is not None and isinstance(model, dynamo.OptimizedModule)


def unwrap(model: nn.Module) -> nn.Module:
    """``nn.DataParallel`` / ``DistributedDataParallel`` -> the wrapped module (same work per
    sample); a ``torch.compile``d module -> its original module ``_orig_mod`` (the same
    program; counting never runs the compiler)."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif _compiled(model):
            model = model._orig_mod
        else:
            return model


def on_device(model: nn.Module, device: str) -> bool:
    dev = torch.device(device).type
    return all(t.device.type == dev for t in _each_tensor(model))


def _each_tensor(model: nn.Module):
    """Every parameter and buffer of ``model`` (a shared one may come more than once), in
    one walk of its modules."""
    for mod in model.modules():
        for t in mod._parameters.values():
            if t is not None:
                yield t
        for t in mod._buffers.values():
            if t is not None:
                yield t


def _placed(t: torch.Tensor, device: str, writable: bool = False) -> torch.Tensor:
    if t.device.type == torch.device(device).type and device != "meta":
        if isinstance(t, nn.Parameter):
            if not writable:
                return t                  # weights are read, never written, by a forward
            return nn.Parameter(t.detach().clone(), requires_grad=t.requires_grad)
        return t.detach().clone()
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


def counting_copy(model: nn.Module, device: str) -> nn.Module:
    """The module a count on ``device`` may run: the model itself when it is on meta and
    the count is on meta, else :func:`copy_on`."""
    if device == "meta" and on_device(model, "meta"):
        return model
    return copy_on(model, device)


def copy_on(model: nn.Module, device: str, writable: bool = False) -> nn.Module:
    """A copy of ``model`` with every parameter and buffer on ``device`` (sharing preserved).

    ``writable``: parameters already on ``device`` are copied too (a training step
    writes their ``.grad`` and the optimizer their values); otherwise a forward-only
    copy shares them with the caller's model.

    Module objects are copied (their attribute dicts shallowly) and their parameters and
    buffers replaced; a module or tensor reachable under two names stays one object."""
    tensors: dict[int, torch.Tensor] = {}
    with torch.inference_mode(False), torch.no_grad():
        for t in _each_tensor(model):
            if id(t) not in tensors:
                tensors[id(t)] = _placed(t, device, writable)
    try:
        return _clone(model, {}, tensors)
    except Exception:  # noqa: BLE001 - an unusual module layout: fall back to deepcopy
        return copy.deepcopy(model, dict(tensors))


def _clone(mod: nn.Module, modules: dict[int, nn.Module], tensors: dict[int, torch.Tensor]) -> nn.Module:
    done = modules.get(id(mod))
    if done is not None:
        return done
    new = copy.copy(mod)               # same class, shallow copy of __dict__
    modules[id(mod)] = new
    attrs = new.__dict__               # plain attributes: no Module.__setattr__ needed
    attrs["_parameters"] = {k: (None if p is None else tensors[id(p)])
                            for k, p in mod._parameters.items()}
    attrs["_buffers"] = {k: (None if b is None else tensors[id(b)]) for k, b in mod._buffers.items()}
    attrs["_modules"] = {k: (None if m is None else _clone(m, modules, tensors))
                         for k, m in mod._modules.items()}
    return new
