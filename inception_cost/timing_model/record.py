"""Record the op event stream of an inference forward or of one training step.

Both run on the meta device (no memory, any batch) under one
:class:`~inception_cost.counting.events.EventCapture`.  The model is never changed: it
runs as a meta copy cast to the requested dtype (``float16``/``bfloat16``: the whole
model and input in that dtype, the eager equivalent of half-precision inference).

A training step is: forward in training mode, the default loss of the training counts
(cross-entropy of the first output against class 0 plus 0.3 x each auxiliary output),
``loss.backward()``, and ``torch.optim.SGD(lr=0.01, foreach=False)``'s step, each
parameter update dispatched (so its bytes are those of the real ops).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..counting.events import EventCapture, EventLog, OpEvent
from ..counting.inputs import make_inputs
from ..counting.placement import copy_on, unwrap
from ..counting.step_program import default_loss
from ..errors import UsageError

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "tf32": torch.float32,
          "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
          "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name.lower()]
    except KeyError:
        raise UsageError(f"unknown dtype '{name}' (choose from fp32, tf32, fp16, bf16)") from None


def _meta_model(model: nn.Module, dtype: torch.dtype, reuse: bool = False) -> nn.Module:
    """A meta copy of ``model`` in ``dtype``; with ``reuse`` the model itself when it is
    already that (an inference forward on meta writes nothing)."""
    model = unwrap(model)
    if reuse and all(t.is_meta and (t.dtype == dtype or not t.is_floating_point())
                     for t in (*model.parameters(), *model.buffers())):
        return model
    work = copy_on(model, "meta")
    return work.to(dtype) if dtype != torch.float32 else work


def meta_model(model: nn.Module, dtype: str = "fp32") -> nn.Module:
    """The meta copy in ``dtype`` that :func:`record_forward` can reuse for many batch sizes."""
    return _meta_model(model, torch_dtype(dtype))


def _outputs(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [o for o in out if isinstance(o, torch.Tensor)]
    if isinstance(out, dict):
        keys = sorted(out, key=lambda k: k != "out")
        return [out[k] for k in keys if isinstance(out[k], torch.Tensor)]
    return []


def record_forward(model: nn.Module, input_size, batch: int | None = None, dtype: str = "fp32",
                   reference_flops: bool = False) -> list[OpEvent]:
    """Events of one inference forward (eval mode, no grad) on meta."""
    dt = torch_dtype(dtype)
    work = _meta_model(model, dt, reuse=True)
    modes = [(m, m.training) for m in work.modules()]
    work.eval()
    args, kwargs = make_inputs(input_size, None, "meta", batch, work)
    args = tuple(a.to(dt) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    try:
        with torch.no_grad(), EventCapture(work, reference_flops=reference_flops) as cap:
            log = cap.subscribe(EventLog())
            work(*args, **kwargs)
    finally:
        for m, training in modes:
            m.training = training
    return log.events


def _owners(model: nn.Module) -> dict[int, str]:
    owner: dict[int, str] = {}
    for mname, mod in model.named_modules():
        for p in mod.parameters(recurse=False):
            owner.setdefault(id(p), mname)
    return owner


def record_training(model: nn.Module, input_size, batch: int | None = None, dtype: str = "fp32",
                    reference_flops: bool = False, lr: float = 0.01) -> list[OpEvent]:
    """Events of one training step (forward in train mode, loss, backward, SGD step) on meta."""
    dt = torch_dtype(dtype)
    work = _meta_model(model, dt).train()
    args, kwargs = make_inputs(input_size, None, "meta", batch, work)
    args = tuple(a.to(dt) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    params = [p for p in work.parameters() if p.requires_grad]
    if not params:
        raise UsageError("nothing to train: the model has no parameter that requires a gradient")
    opt = torch.optim.SGD(params, lr=lr, foreach=False)
    with torch.enable_grad(), EventCapture(work, reference_flops=reference_flops) as cap:
        log = cap.subscribe(EventLog())
        cap.track_autograd(_owners(work), params, list(args) + list(kwargs.values()))
        with cap.autograd_tracking():
            out = work(*args, **kwargs)
            outs = _outputs(out)
            if not outs:
                raise UsageError(f"the model's output is a {type(out).__name__}, not tensors")
            with cap.phase("forward", "(loss)"):
                loss = default_loss(outs)
        cap.watch_mixed_nodes()
        with cap.phase("backward"):
            loss.backward()
        with cap.phase("optimizer"):
            opt.step()
    return log.events
