"""``inception_cost.predict``: predicted time of a model on a device, from exact FLOPs and bytes."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..counting.arguments import check_freeze
from ..counting.inputs import input_shape
from ..counting.optimizer_formulas import optimizer_spec
from ..counting.step_program import DEFAULT_OPTIMIZER, canonical_optimizer
from ..errors import UsageError
from .devices import Device, find_device
from .model import MODE_DTYPE, Prediction, Terms, predict_events
from .record import record_forward, record_training


def _mode(dtype: str) -> str:
    m = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}.get(dtype.lower(),
                                                                                    dtype.lower())
    if m not in MODE_DTYPE:
        raise UsageError(f"unknown dtype '{dtype}' (choose from fp32, tf32, fp16, bf16)")
    return m


def record_events(model: nn.Module, input_size=None, dtype: str = "fp32", training: bool = False,
                  batch: int | None = None, optimizer=DEFAULT_OPTIMIZER, freeze=None,
                  inputs=None) -> list:
    """The op events of one inference forward (or one training step, with ``optimizer``
    and ``freeze`` as :func:`~.record.record_training` takes them) at ``dtype``, on
    ``input_size`` (with ``batch``) or on ``inputs`` (tensors, as ``count`` takes them)."""
    mode = _mode(dtype)
    if training:
        return record_training(model, input_size, batch, MODE_DTYPE[mode], optimizer=optimizer,
                               freeze=freeze, inputs=inputs)
    return record_forward(model, input_size, batch, MODE_DTYPE[mode], inputs=inputs)


def inputs_batch(inputs) -> int:
    """The batch of ``inputs`` (as ``count`` takes them): the first size of the first
    tensor, 1 for a 0-d tensor or no tensor."""
    from ..counting.inputs import make_inputs
    args, kwargs = make_inputs(None, inputs, "meta")
    xs = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
    return int(xs[0].shape[0]) if xs and xs[0].dim() else 1


def optimizer_label(optimizer) -> str:
    """The name an output shows for ``optimizer`` (a name, an OptimizerSpec or None)."""
    spec = optimizer_spec(canonical_optimizer(optimizer) if isinstance(optimizer, str) else optimizer)
    if spec is None:
        return "none"
    return canonical_optimizer(optimizer) if isinstance(optimizer, str) else spec.name


def predict(model, input_size=None, device: str | Device = "H100", dtype: str = "fp32",
            training: bool = False, batch: int | None = None, terms: Terms = Terms(),
            optimizer=DEFAULT_OPTIMIZER, freeze=None, inputs=None) -> Prediction:
    """Predicted latency of ``model`` on ``device`` (a catalog name, a device file, or a
    :class:`Device`), eager execution, no fusion.

    ``model``: an ``nn.Module`` or a model name (as the CLI takes it); ``input_size``:
    (N, C, H, W) or (C, H, W) with ``batch`` (default: a zoo model's own size); ``dtype``: fp32, tf32, fp16 or bf16 (the math
    mode; fp16/bf16 record the model in that dtype); ``training``: one training step
    (forward, loss, backward, optimizer step: the step program ``train`` counts, on the
    model ``train`` builds -- a name gets its training-only heads) instead of an inference
    forward; ``optimizer``: ``none``, ``sgd``, ``sgd_momentum`` (default, as ``train``),
    ``sgd_nesterov``, ``adam``, ``adamw`` or an OptimizerSpec; ``freeze``: module/parameter
    patterns (fnmatch; a comma-separated string or a list) with no gradient and no
    update; ``inputs``: instead of ``input_size``, the forward's tensors as
    ``count(..., inputs=)`` takes them (a tensor, a tuple, a dict of keyword tensors, or
    ``(args, kwargs)``; integer tensors keep their dtype, float ones take the math mode's;
    the batch is the first tensor's first size).  Returns a
    :class:`~inception_cost.timing_model.model.Prediction` (DataFrames per op and layer,
    totals with ``latency_ms`` and ``images_per_s``, batch elements per second)."""
    name = ""
    if not training and (freeze is not None or optimizer != DEFAULT_OPTIMIZER):
        raise UsageError("optimizer= and freeze= describe a training step: pass training=True")
    if training:
        label = optimizer_label(optimizer)     # an unknown name fails before any model is built
        check_freeze(freeze)
    if inputs is not None and (input_size is not None or batch is not None):
        raise UsageError("give input_size= (and batch=) or inputs=, not both")
    if isinstance(model, str):
        from ..models.resolve import resolve_model, resolve_training_model
        name = model
        model, size, _ = (resolve_training_model if training else resolve_model)(model)
        input_size = input_size or (size if inputs is None else None)
    if not isinstance(model, nn.Module):
        raise UsageError(f"model must be a torch.nn.Module or a model name, got {type(model).__name__}")
    if input_size is None:   # a zoo model (build()): its own C x H x W
        input_size = getattr(model, "default_input_size", None)
    dev = device if isinstance(device, Device) else find_device(device)
    mode = _mode(dtype)
    dev.peak(mode)
    if inputs is not None:
        events = record_events(model, None, mode, training, optimizer=optimizer, freeze=freeze,
                               inputs=inputs)
        return predict_events(events, dev, mode, batch=inputs_batch(inputs), training=training,
                              terms=terms, model_name=name or type(model).__name__,
                              optimizer=label if training else "")
    shape = input_shape(input_size, batch, model)
    events = record_events(model, shape, mode, training, optimizer=optimizer, freeze=freeze)
    return predict_events(events, dev, mode, batch=shape[0], training=training, terms=terms,
                          model_name=name or type(model).__name__,
                          optimizer=label if training else "")
