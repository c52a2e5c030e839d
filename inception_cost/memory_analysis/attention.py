"""Fused attention as the target device runs it.

``F.scaled_dot_product_attention`` picks a kernel from the device of its inputs: on the
meta device it always takes the math path (``bmm`` + softmax + ``bmm``), which saves the
B x H x L x S attention matrix for backward, while CPU and CUDA run fused kernels that save
only the output and one float32 log-sum-exp per query row.  ``FusedAttention`` is a
``TorchFunctionMode`` that replaces each call by the fused op the target device would run,
so that the tracker sees that op's outputs and saved tensors (the op's own meta kernel gives
their exact sizes):

- ``cpu``: what PyTorch's CPU dispatcher picks, asked of PyTorch itself on fake CPU tensors
  of the same sizes, strides and dtype (``_scaled_dot_product_flash_attention_for_cpu``, or
  the math path when its conditions fail, e.g. dropout > 0).
- ``cuda``: PyTorch's default priority, flash > memory-efficient > math, with the
  conditions of each stated in ``cuda_backend`` (flash: fp16/bf16, no mask, head dim a
  multiple of 8 and <= 256; efficient: fp32/fp16/bf16, head dim a multiple of 16 bytes,
  masks allowed).  cuDNN attention is not modelled.

``FusedAttention.used`` counts calls per backend ('flash', 'efficient', 'math').
"""
from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_SDPA = F.scaled_dot_product_attention
_aten = torch.ops.aten
BACKENDS = ("flash", "efficient", "math")


def _args(args, kwargs):
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
             "enable_gqa")
    defaults = (None, None, None, None, 0.0, False, None, False)
    vals = dict(zip(names, defaults))
    vals.update(zip(names, args))
    vals.update(kwargs or {})
    return vals


def _fused_ok(a) -> bool:
    """Conditions every fused kernel shares: 4-D tensors, same batch and heads for q/k/v
    (no grouped-query broadcast), equal q/k head dims, non-empty sequences, unit stride in
    the last dimension."""
    q, k, v = a["query"], a["key"], a["value"]
    if not all(isinstance(t, torch.Tensor) for t in (q, k, v)):
        return False
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        return False
    if q.shape[:2] != k.shape[:2] or q.shape[:2] != v.shape[:2]:
        return False
    if q.shape[-1] != k.shape[-1] or 0 in (q.shape[2], k.shape[2]):
        return False
    return all(t.stride(-1) == 1 for t in (q, k, v))


def cuda_backend(a) -> str:
    """The backend CUDA's default priority (flash, then memory-efficient, then math)
    picks for these arguments (see the module docstring for the conditions)."""
    q, v = a["query"], a["value"]
    if not _fused_ok(a):
        return "math"
    head, vhead = q.shape[-1], v.shape[-1]
    if (q.dtype in (torch.float16, torch.bfloat16) and a["attn_mask"] is None
            and head == vhead and head % 8 == 0 and head <= 256):
        return "flash"
    align = 16 // q.element_size()
    if q.dtype in (torch.float32, torch.float16, torch.bfloat16) and head % align == 0 \
            and vhead % align == 0:
        return "efficient"
    return "math"


_CPU_CACHE: dict = {}


def _fake_like(t):
    if not isinstance(t, torch.Tensor):
        return t
    out = torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype, device="cpu")
    return out.requires_grad_(t.requires_grad)


def cpu_backend(a) -> str:
    """The backend PyTorch's CPU dispatcher picks: ``F.scaled_dot_product_attention`` run
    once on fake CPU tensors of the same sizes, strides and dtypes, watching which op it
    dispatches (cached per signature)."""
    sig = tuple((tuple(t.shape), tuple(t.stride()), t.dtype, t.requires_grad)
                if isinstance(t, torch.Tensor) else t
                for t in (a["query"], a["key"], a["value"], a["attn_mask"])) + (
        float(a["dropout_p"]), bool(a["is_causal"]), a["scale"], bool(a["enable_gqa"]),
        torch.is_grad_enabled())
    hit = _CPU_CACHE.get(sig)
    if hit is not None:
        return hit
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

    class _Watch(TorchDispatchMode):
        seen = "math"

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is _aten._scaled_dot_product_flash_attention_for_cpu.default:
                _Watch.seen = "flash"
            return func(*args, **(kwargs or {}))

    with _disable_current_modes(), FakeTensorMode():
        fa = {k: _fake_like(v) for k, v in a.items()}
        with _Watch():
            _SDPA(fa["query"], fa["key"], fa["value"], attn_mask=fa["attn_mask"],
                  dropout_p=fa["dropout_p"], is_causal=fa["is_causal"], scale=fa["scale"],
                  enable_gqa=fa["enable_gqa"])
    _CPU_CACHE[sig] = _Watch.seen
    return _Watch.seen


def _float_mask(mask, dtype):
    """A boolean mask as the additive float mask the fused kernels take (a new tensor, as
    PyTorch allocates it)."""
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
        mask.logical_not(), float("-inf"))


def fused(a, backend: str, device: str):
    """Run ``device``'s fused op of ``backend`` on the (meta or fake) tensors; returns the
    attention output."""
    q, k, v = a["query"], a["key"], a["value"]
    p, causal, scale = float(a["dropout_p"]), bool(a["is_causal"]), a["scale"]
    if backend == "flash" and device == "cpu":
        return _aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, p, causal, attn_mask=_float_mask(a["attn_mask"], q.dtype),
            scale=scale)[0]
    if backend == "flash":
        return _aten._scaled_dot_product_flash_attention(q, k, v, p, causal, False,
                                                         scale=scale)[0]
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    return _aten._scaled_dot_product_efficient_attention(
        q, k, v, _float_mask(a["attn_mask"], q.dtype), grad, p, causal, scale=scale)[0]


class FusedAttention(TorchFunctionMode):
    """Routes ``F.scaled_dot_product_attention`` to the fused kernel ``device`` ('cpu' or
    'cuda') would run; ``used`` counts the backends picked."""

    def __init__(self, device: str):
        super().__init__()
        self.device = device
        self.used: Counter = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is not _SDPA:
            return func(*args, **(kwargs or {}))
        a = _args(args, kwargs)
        backend = "math"
        if _fused_ok(a):
            backend = cpu_backend(a) if self.device == "cpu" else cuda_backend(a)
        self.used[backend] += 1
        if backend == "math":
            return func(*args, **(kwargs or {}))
        return fused(a, backend, self.device)


__all__ = ["FusedAttention", "cuda_backend", "cpu_backend", "BACKENDS"]
