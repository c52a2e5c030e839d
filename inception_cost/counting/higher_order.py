"""How the dispatch-level counter treats higher-order ops (``flex_attention``, ``cond``...).

A higher-order op reaches the dispatch mode as one call whose operands include
functions (``score_mod``, branches).  Two cases:

* the op has a formula (``flex_attention``, see ``formulas_attention``): it runs
  once, unobserved, and is recorded as one row costed by that formula;
* otherwise its eager (CompositeExplicitAutograd) implementation runs under the
  counter, so the aten ops it executes are counted one by one (``torch.cond``
  counts the branch it takes).  With no such implementation it runs unobserved
  and its row is reported as uncounted.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any

import torch
from torch._C import DispatchKey


def run_higher_order(mode: Any, rec: Any, func: torch._ops.HigherOrderOperator,
                     args: tuple, kwargs: dict):
    """Run higher-order op ``func`` for dispatch ``mode`` and record it in ``rec``."""
    name = func.name()
    if rec.formula(func) is None:
        eager = func.py_kernels.get(DispatchKey.CompositeExplicitAutograd)
        if eager is not None:
            with mode:
                return eager(*args, **kwargs)
    rec.inside_composite += 1          # its inner torch functions are not separate rows
    try:
        out = func(*args, **kwargs)
    finally:
        rec.inside_composite -= 1
    rec.propagate(name, args, out)
    rec.record(func, tuple(args), kwargs, out, False)
    return out


@contextmanager
def eager_higher_order_ops():
    """While counting, call ``flex_attention``'s op directly instead of through
    ``torch.compile`` (restored on exit; nothing to do if flex_attention is unused)."""
    flex = sys.modules.get("torch.nn.attention.flex_attention")
    if flex is None or not hasattr(flex, "_FLEX_ATTENTION_DISABLE_COMPILE_DEBUG"):
        yield
        return
    old = flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG
    flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG = True
    try:
        yield
    finally:
        flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG = old
