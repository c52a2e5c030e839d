"""Record the op event stream of an inference forward or of one training step.

Both run on the meta device (no memory, any batch) under one
:class:`~inception_cost.counting.events.EventCapture`.  The model is never changed: it
runs as a meta copy cast to the requested dtype (``float16``/``bfloat16``: the whole
model and input in that dtype, the eager equivalent of half-precision inference).

A training step is the step program ``train`` counts
(:class:`~inception_cost.counting.step_program.StepProgram`): forward in training mode, its
loss (cross-entropy of the first output against class 0 plus 0.3 x each auxiliary output),
its frozen parameters, ``loss.backward()``, and its ``torch.optim`` optimizer's step
(``sgd_momentum`` unless told otherwise; the per-parameter loop), each parameter update
dispatched (so its FLOPs and bytes are those of the real ops).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..counting.events import EventCapture, EventLog, OpEvent
from ..counting.inputs import make_inputs
from ..counting.model_errors import model_backward, model_forward, model_loss
from ..counting.placement import copy_on, unwrap
from ..counting.arguments import check_freeze
from ..counting.autograd_map import LOSS_MODULE
from ..counting.optimizer_formulas import OptimizerSpec, optimizer_spec
from ..counting.step_program import (DEFAULT_OPTIMIZER, StepProgram, canonical_optimizer,
                                      step_outputs)
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


def meta_inputs(input_size, inputs, batch: int | None, work: nn.Module, dt: torch.dtype
                ) -> tuple[tuple, dict]:
    """(args, kwargs) on meta from ``input_size``/``batch`` or ``inputs`` (as ``count``
    takes them): float tensors in the math dtype ``dt``, integer and bool tensors in their own."""
    args, kwargs = make_inputs(input_size, inputs, "meta", batch, work)

    def cast(a):
        return a.to(dt) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def record_forward(model: nn.Module, input_size=None, batch: int | None = None,
                   dtype: str = "fp32", reference_flops: bool = False, inputs=None
                   ) -> list[OpEvent]:
    """Events of one inference forward (eval mode, no grad) on meta. ``inputs``: instead
    of ``input_size``, the forward's tensors as ``count(..., inputs=)`` takes them (a
    tensor, a tuple, a dict of keyword tensors, or ``(args, kwargs)``)."""
    dt = torch_dtype(dtype)
    work = _meta_model(model, dt, reuse=True)
    modes = [(m, m.training) for m in work.modules()]
    work.eval()
    args, kwargs = meta_inputs(input_size, inputs, batch, work, dt)
    try:
        with torch.no_grad(), EventCapture(work, reference_flops=reference_flops) as cap:
            log = cap.subscribe(EventLog())
            with model_forward(cap):
                work(*args, **kwargs)
    finally:
        for m, training in modes:
            m.training = training
    return log.events


def _param_owners(model: nn.Module) -> tuple[dict[int, str], dict[str, list[torch.Tensor]]]:
    """(id(parameter) -> owning module path, module path -> its parameters); a shared
    parameter belongs to its first owner in ``named_modules`` order (as the training counts)."""
    owner: dict[int, str] = {}
    owned: dict[str, list[torch.Tensor]] = {}
    for mname, mod in model.named_modules():
        for p in mod.parameters(recurse=False):
            if id(p) not in owner:
                owner[id(p)] = mname
                owned.setdefault(mname, []).append(p)
    return owner, owned


def step_program(optimizer: str | OptimizerSpec | None = DEFAULT_OPTIMIZER, freeze=None
                 ) -> StepProgram:
    """The step program a recorded training step runs: the one ``count_training`` (``train``)
    builds for the same ``optimizer`` and ``freeze`` (same loss, training-only heads' loss
    weight, torch optimizer and implementation), so that both see the same ops."""
    check_freeze(freeze)
    if isinstance(optimizer, str):
        optimizer = canonical_optimizer(optimizer)      # old spellings mapped
    return StepProgram(optimizer=optimizer_spec(optimizer), foreach=False, freeze=freeze)


def record_training(model: nn.Module, input_size=None, batch: int | None = None,
                    dtype: str = "fp32", reference_flops: bool = False,
                    optimizer: str | OptimizerSpec | None = DEFAULT_OPTIMIZER,
                    freeze=None, inputs=None) -> list[OpEvent]:
    """Events of one training step on meta: forward in train mode, the step program's loss
    (:func:`step_program`: cross-entropy plus 0.3 x each training-only head), backward,
    and the optimizer's steady-state step (its state buffers exist; the per-parameter loop,
    one optimizer per module so that each update is attributed to its module).

    ``optimizer``: a name of ``train``'s vocabulary (``none``, ``sgd``, ``sgd_momentum``,
    ``sgd_nesterov``, ``adam``, ``adamw``), an :class:`OptimizerSpec`, or None; default
    ``sgd_momentum``, as ``train``. ``freeze``: module/parameter path patterns (fnmatch; a
    comma-separated string or a list) whose parameters get no gradient and no update.
    ``inputs``: the forward's tensors instead of ``input_size``, as :func:`record_forward`."""
    program = step_program(optimizer, freeze)
    dt = torch_dtype(dtype)
    work = _meta_model(model, dt).train()
    program.freeze_parameters(work)
    args, kwargs = meta_inputs(input_size, inputs, batch, work, dt)
    params = list(work.parameters())
    owner, owned = _param_owners(work)
    optimizers = program.steady_optimizers(owned)
    with torch.enable_grad(), EventCapture(work, reference_flops=reference_flops) as cap:
        log = cap.subscribe(EventLog())
        cap.track_autograd(owner, params, list(args) + list(kwargs.values()))
        with cap.autograd_tracking():
            with model_forward(cap):
                out = work(*args, **kwargs)
            outs = step_outputs(out)
            if program.loss is None and not outs:
                raise UsageError(f"the model's output is a {type(out).__name__}, not tensors")
            with cap.phase("forward", LOSS_MODULE), model_loss():
                loss = program.loss_value(out, outs)
        if not loss.requires_grad:
            raise UsageError("nothing to train: the loss does not depend on any parameter "
                             "that requires a gradient (everything frozen?)")
        cap.watch_mixed_nodes()
        with cap.phase("backward"), model_backward():
            loss.backward()
        for mname, opt in optimizers.items():
            with cap.phase("optimizer", mname):
                opt.step()
    return log.events
