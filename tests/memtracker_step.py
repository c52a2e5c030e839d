"""The memory reference the tests share: PyTorch's MemTracker run on one step written here
from PyTorch's own API, independent of ``inception_cost.memory_analysis``."""
from __future__ import annotations

import contextlib
import copy
import warnings

import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import MemTracker

CATEGORIES = ("Parameter", "Buffer", "Gradient", "Activation", "Temp", "Optstate", "Other")


def reference_step(meta_model, chw, batch, *, training, optimizer="adam", step="steady",
                   amp=False) -> dict[str, int]:
    """MemTracker's peak snapshot (bytes per category, and "Total") of one step written
    with PyTorch's API on a fake-CPU copy of ``meta_model``.

    Inference: ``model.eval()`` and ``model(x)`` under ``no_grad``.  Training: ``model(x)``
    in train mode, cross-entropy on the main logits + 0.3 x each auxiliary head's,
    ``backward()``, ``opt.step()``, ``opt.zero_grad(set_to_none=True)``.  ``step='steady'``:
    the optimizer ran one step (and zero_grad) before tracking starts, so its state exists
    and no gradient is left over, as in every step after the first."""
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
        with warnings.catch_warnings():
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
