"""The memory reference the tests share: PyTorch's MemTracker run on one step written here
from PyTorch's own API, independent of ``inception_cost.memory_analysis``."""
from __future__ import annotations

import contextlib
import copy
import warnings
import weakref

import torch
import torch.utils.weak
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import MemTracker

CATEGORIES = ("Parameter", "Buffer", "Gradient", "Activation", "Temp", "Optstate", "Other")

_deref = weakref.ref.__call__
_MODULE_DICTS = ("_parameters", "_buffers", "_modules")
_PLAIN: dict[int, object] = {}   # id(weak reference) -> the reference, to a plain module


def _deref_module_fast(self):
    """``torch.utils.weak.WeakIdRef.__call__`` with the same result, minus its cost on
    modules.  After every op MemTracker dereferences the weak key of every module it has
    seen (``_update_peak_stats``); each dereference asks ``hasattr(obj, "_fix_weakref")``,
    which on a module goes through ``nn.Module.__getattr__`` and raises: a third to a
    half of MemTracker's CPU time on these models.  Here a module that holds no
    ``_fix_weakref`` anywhere ``hasattr`` could find it (its ``__dict__``, its parameters,
    buffers and submodules, its class) is returned as it is, as the original does after a
    False ``hasattr``; every other object takes the original path.  A reference found to
    point to such a module is remembered for the tracked step (``_PLAIN``, keyed by the
    reference object itself), so the module is inspected once, not after every op."""
    if _PLAIN.get(id(self)) is self:
        r = _deref(self)
        if r is not None:
            return r
    r = _deref(self)
    if isinstance(r, torch.nn.Module):
        d = r.__dict__
        if not ("_fix_weakref" in d or hasattr(type(r), "_fix_weakref")
                or any("_fix_weakref" in d.get(k, ()) for k in _MODULE_DICTS)):
            _PLAIN[id(self)] = self
            return r
    if hasattr(r, "_fix_weakref"):
        r._fix_weakref()  # as the original: a tensor's Python object resurrected
    return r


@contextlib.contextmanager
def _fast_module_weakrefs():
    """``WeakIdRef.__call__`` replaced by ``_deref_module_fast`` inside, restored after."""
    original = torch.utils.weak.WeakIdRef.__call__
    torch.utils.weak.WeakIdRef.__call__ = _deref_module_fast
    try:
        yield
    finally:
        torch.utils.weak.WeakIdRef.__call__ = original
        _PLAIN.clear()


def reference_step(meta_model, chw, batch, *, training, optimizer="adam", step="steady",
                   amp=False) -> dict[str, int]:
    """MemTracker's peak snapshot (bytes per category, and "Total") of one step written
    with PyTorch's API on a fake-CPU copy of ``meta_model``.

    Inference: ``model.eval()`` and ``model(x)`` under ``no_grad``.  Training: ``model(x)``
    in train mode, cross-entropy on the main logits + 0.3 x each auxiliary head's,
    ``backward()``, ``opt.step()``, ``opt.zero_grad(set_to_none=True)``.  ``step='steady'``:
    the optimizer ran one step (and zero_grad) before tracking starts, so its state exists
    and no gradient is left over, as in every step after the first.

    MemTracker runs as PyTorch ships it, but for one dereference of its module weak keys
    made cheaper with the same result (``_fast_module_weakrefs``): the peak and every
    category were checked equal to the byte with and without it on every model and step
    of the test files that use this function (reports/benchmarks/test_suite_speed.md,
    fifth pass)."""
    model = copy.deepcopy(meta_model)
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = model.to_empty(device="cpu").train(training)
        opt = None
        if training and optimizer == "adam":
            opt = torch.optim.Adam(model.parameters(), foreach=True)
        elif training and optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=0.1, foreach=True)
        elif training and optimizer == "momentum":
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, foreach=True)
        elif training and optimizer == "sgd_nesterov":
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                                  foreach=True)
        if opt is not None and step == "steady":
            for p in model.parameters():
                p.grad = torch.zeros_like(p)
            opt.step()
            opt.zero_grad(set_to_none=True)
        tracker = MemTracker()
        tracker.track_external(model, *([opt] if opt is not None else []))
        cast = torch.autocast("cpu", dtype=torch.float16) if amp else contextlib.nullcontext()
        with warnings.catch_warnings(), _fast_module_weakrefs():
            warnings.simplefilter("ignore")
            with tracker:
                if not training:
                    with torch.no_grad():
                        x = torch.randn(batch, *chw)
                        out = model(x)
                    del out
                else:
                    with cast:
                        x = torch.randn(batch, *chw)
                        target = torch.randint(0, 2, (batch,))
                        out = model(x)
                        heads = list(out) if isinstance(out, tuple) else [out]
                        loss = F.cross_entropy(heads[0], target)
                        for aux in heads[1:]:
                            loss = loss + 0.3 * F.cross_entropy(aux, target)
                        del out, heads
                    loss.backward()
                    del loss
                    if opt is not None:
                        opt.step()
                        opt.zero_grad(set_to_none=True)
        snap = tracker.get_tracker_snapshot("peak")
    dev = next(iter(snap.values())) if snap else {}
    got = {getattr(k, "value", k): int(v) for k, v in dev.items()}
    return {k: got.get(k, 0) for k in (*CATEGORIES, "Total")}


def as_memtracker(report) -> dict[str, int]:
    """Our peak breakdown in MemTracker's category names (the by-design mapping)."""
    d = report.detail
    return {"Parameter": d["parameters"], "Buffer": d["buffers"], "Gradient": d["gradients"],
            "Activation": d["saved_activations"] + d["transient_forward"],
            "Temp": d["transient_backward"],
            "Optstate": d["optimizer_state"] + d["transient_optimizer"], "Other": 0,
            "Total": report.peak_bytes}
