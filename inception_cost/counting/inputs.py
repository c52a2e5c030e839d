"""Input rules shared by every engine: ``input_size`` / ``batch`` / ``inputs`` -> (args, kwargs).

* ``input_size`` is the full input shape, batch included (``(4, 16, 100)`` for a
  Conv1d model is batch 4, 16 channels, length 100).  ``batch=N`` prepends N to it
  (``input_size=(3, 224, 224), batch=8`` -> 8x3x224x224).
* The one shorthand: a 3-tuple given to a model whose first convolution is an
  ``nn.Conv2d`` is C x H x W and gets batch 1 (a Conv2d treats a 3-D input as one
  unbatched image anyway, so the counts are the same; the shapes read batch 1).
* Every size must be a positive Python/NumPy integer; anything else (a string, a
  float, a bool) is a :class:`UsageError`, never truncated.
* An input made from a size takes the model's floating dtype (fp16 for a ``.half()``
  model; fp32 when it has no floating parameter).
* ``inputs=`` takes a tensor, a tuple/list of tensors (positional arguments), a
  dict of tensors (keyword arguments, e.g. ``{"input_ids": ids}``), or both as
  ``((x,), {"attention_mask": mask})``.
"""
from __future__ import annotations

import itertools
import math
import operator

import torch
import torch.nn as nn

from ..errors import UsageError


def _int(v) -> int:
    if isinstance(v, bool) or isinstance(v, float):
        raise TypeError
    return operator.index(v)


MAX_TENSOR_BYTES = 2**63 - 1
"""A tensor's storage holds at most this many bytes (torch sizes are int64)."""


def input_shape(input_size, batch: int | None = None, model: nn.Module | None = None) -> tuple[int, ...]:
    """The full input shape (integers, batch first) from ``input_size`` and ``batch``."""
    if isinstance(input_size, (str, bytes)) or not hasattr(input_size, "__iter__"):
        raise UsageError(f"input_size must be a sequence of positive integers, got {input_size!r}")
    try:
        size = tuple(_int(s) for s in input_size)
    except TypeError:
        raise UsageError(f"input_size must be a sequence of positive integers, got "
                         f"{tuple(input_size)!r}") from None
    if batch is not None:
        try:
            batch = _int(batch)
        except TypeError:
            raise UsageError(f"batch must be a positive integer, got {batch!r}") from None
        size = (batch, *size)
    elif len(size) == 3 and model is not None and _first_conv_is_2d(model):
        size = (1, *size)
    if not size:
        raise UsageError("input_size is empty")
    if any(s <= 0 for s in size):
        raise UsageError(f"input size must be positive, got {'x'.join(map(str, size))}")
    if math.prod(size) * 4 > MAX_TENSOR_BYTES:
        shown = "x".join(str(s) if len(str(s)) <= 24 else f"{str(s)[0]}.{str(s)[1:4]}e+{len(str(s)) - 1}"
                         for s in size)
        raise UsageError(f"input {shown} has more elements than one fp32 tensor can hold "
                         "(2^63 - 1 bytes); use a smaller batch or input")
    return size


def _first_conv_is_2d(model: nn.Module) -> bool:
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return isinstance(m, nn.Conv2d)
    return False


def to_device(t, device: str):
    """A tensor on ``device`` (meta: an empty tensor of the same shape and dtype)."""
    if not isinstance(t, torch.Tensor):
        return t
    if device == "meta":
        return torch.empty_like(t, device="meta")
    if t.is_meta:
        return torch.zeros_like(t, device=device)
    return t.to(device)


def make_inputs(input_size=None, inputs=None, device: str = "meta", batch: int | None = None,
                model: nn.Module | None = None) -> tuple[tuple, dict]:
    """(positional args, keyword args) on ``device`` for one call of the model."""
    if inputs is not None:
        if input_size is not None:
            raise UsageError("give input_size= or inputs=, not both")
        if isinstance(inputs, torch.Tensor):
            return (to_device(inputs, device),), {}
        if isinstance(inputs, dict):
            return (), {k: to_device(v, device) for k, v in inputs.items()}
        if (isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], (tuple, list))
                and isinstance(inputs[1], dict)):   # (positional tensors, keyword tensors)
            return (tuple(to_device(t, device) for t in inputs[0]),
                    {k: to_device(v, device) for k, v in inputs[1].items()})
        if isinstance(inputs, (list, tuple)):
            return tuple(to_device(t, device) for t in inputs), {}
        raise UsageError(f"inputs must be a tensor, a tuple of tensors or a dict of tensors, "
                         f"got {type(inputs).__name__}")
    if input_size is None:
        raise UsageError("give input_size=(N, C, H, W) or inputs=")
    size = input_shape(input_size, batch, model)
    dtype = float_dtype(model) or torch.float32     # a .half() model gets an fp16 input
    if device == "meta":
        return (torch.empty(size, device="meta", dtype=dtype),), {}
    g = torch.Generator().manual_seed(0)
    return (torch.randn(size, generator=g).to(device=device, dtype=dtype),), {}


def float_dtype(model: nn.Module | None) -> torch.dtype | None:
    """The dtype of the model's first floating parameter (or buffer): the dtype an input
    made from a size takes (fp32 for an fp32 model, fp16 after ``.half()``); None for a
    model without floating tensors.  Walks the model lazily: it stops at the first floating
    tensor instead of listing every parameter and buffer first."""
    if model is None:
        return None
    for t in itertools.chain(model.parameters(), model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def tensor_shapes(args: tuple, kwargs: dict) -> list[tuple[int, ...]]:
    """Integer-tuple shapes of the tensors among the inputs, positional first."""
    vals = list(args) + list(kwargs.values())
    return [tuple(int(s) for s in t.shape) for t in vals if isinstance(t, torch.Tensor)]
