"""How the dispatch-level counter treats higher-order ops (``flex_attention``, ``cond``...).

A higher-order op reaches the dispatch mode as one call whose operands include
functions (``score_mod``, branches).  The op capture (:class:`.capture.OpCapture`) runs
it once, unobserved, and the counter records it as one row: costed by its formula when it has one (``flex_attention``, see
``formulas_attention``), otherwise reported as uncounted (``torch.cond``, ...), so
its work is never silently zero.

``flex_attention``'s Python front end wraps the op in ``torch.compile``, which
refuses to trace while a dispatch mode is active; :func:`eager_higher_order_ops`
sets its documented debug switch (``_FLEX_ATTENTION_DISABLE_COMPILE_DEBUG``) for the
duration of a count so the op is called directly, and restores it afterwards.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager


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
