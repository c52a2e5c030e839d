"""Bytes an aten op moves: the convention of ``get_num_bytes`` in
``torch/utils/_runtime_estimation.py``.

An op reads every tensor argument and writes every tensor it returns, each at its
dtype's size, with broadcast (stride-0) dimensions counted once.  Views, metadata ops
and creation/allocation ops move 0 bytes.  Units: bytes (exact Python integers).

Shared by the op event stream (:mod:`.events`) and the per-layer counter
(:mod:`.engine`), so ``layers``/``train`` and ``predict`` price the same traffic.
"""
from __future__ import annotations

import torch

# aten ops that read and write nothing: metadata, aliasing, allocation without a fill,
# the creation ops torch/utils/_runtime_estimation.py ignores (_CREATE_OPS), and
# prim.device, the device query a fake tensor (FakeTensorMode) sends through dispatch
FREE_OPS = frozenset({
    "lift_fresh", "detach", "alias", "_unsafe_view", "_local_scalar_dense", "sym_size",
    "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size", "empty", "empty_like",
    "empty_strided", "new_empty", "new_empty_strided", "resize_", "set_",
    "randint", "randn", "rand", "randn_like", "rand_like", "randint_like", "arange",
    "ones_like", "zeros_like", "_record_function_enter_new", "_record_function_exit",
    "device",
})
# views torch's _VIEW_OPS lists whose schema is not marked as a view (they return lists)
LIST_VIEWS = frozenset({"split", "unbind", "chunk", "split_with_sizes", "vsplit", "hsplit",
                        "unflatten", "movedim", "swapaxes", "swapdims", "expand_as", "view_as"})


def is_free(func, name: str) -> bool:
    """Whether aten op ``func`` (packet name ``name``) moves no bytes."""
    return func.is_view or name in FREE_OPS or name in LIST_VIEWS


def tensor_leaves(x, out: list | None = None) -> list:
    """Every tensor in ``x`` (nested lists, tuples and dicts), in order: the same tensors
    ``torch.utils._pytree.tree_leaves`` finds among an op's arguments, without its cost."""
    if out is None:
        out = []
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            if isinstance(v, torch.Tensor):
                out.append(v)
            elif isinstance(v, (list, tuple, dict)):
                tensor_leaves(v, out)
    elif isinstance(x, dict):
        for v in x.values():
            tensor_leaves(v, out)
    return out


def touched_bytes(t: torch.Tensor) -> int:
    """Bytes an op touches in ``t``: elements with stride-0 (broadcast) dimensions counted
    once, times the element size.  Exact Python integer."""
    if t.is_contiguous():               # no dimension of size > 1 has stride 0
        n = t.numel()
        if n:                           # (an empty tensor may still have stride-0 dims)
            return n * t.element_size()
    n = 1
    for size, stride in zip(t.shape, t.stride()):
        if stride != 0:
            n *= int(size)
    return n * t.element_size()


def call_bytes(args, kwargs, out) -> int:
    """Bytes read (every tensor among ``args``, a call's positional tuple or list, and
    ``kwargs``) plus bytes written (every tensor in ``out``) by one call."""
    n = 0
    Tensor = torch.Tensor
    for a in args:                      # tensor_leaves(args), without building the list
        if isinstance(a, Tensor):
            n += touched_bytes(a)
        elif isinstance(a, (list, tuple, dict)):
            for t in tensor_leaves(a):
                n += touched_bytes(t)
    if kwargs:
        for t in tensor_leaves(kwargs):
            n += touched_bytes(t)
    if isinstance(out, Tensor):
        return n + touched_bytes(out)
    for t in tensor_leaves(out):
        n += touched_bytes(t)
    return n


def op_bytes(func, name: str, args, kwargs, out) -> int:
    """Bytes moved by one dispatched aten op (0 for a free op)."""
    if is_free(func, name):
        return 0
    return call_bytes(args, kwargs, out)
