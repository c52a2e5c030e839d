"""The public entries that also take a model by name: ``inception_cost.memory``,
``fit_batch``, ``analyse_step`` and ``checkpoint_plan`` accept a model spec (a zoo variant
such as ``"googlenet"``, ``torchvision:NAME``, ``timm:NAME``, ``path/file.py:factory``) as
well as an ``nn.Module``.

The memory analysis and the checkpoint planner take a module and never import the zoo
(``tests/test_layering.py``).  Here, one layer above them, :func:`model_of` builds a named
model (on the meta device) and hands it on with its default input size (C, H, W) and the
spec as its label; a module goes through untouched.
"""
from __future__ import annotations

import torch.nn as nn

from .checkpointing import planner
from .errors import UsageError
from .memory_analysis import api, combined_step
from .models.resolve import resolve_model, resolve_training_model


def model_of(model, input_size=None, *, training: bool = False, inputs=None):
    """(module, input size, label) for an ``nn.Module`` or a model spec.

    A spec is built by :func:`~inception_cost.models.resolve.resolve_training_model` when
    ``training`` (the training-only auxiliary heads ``train`` counts: GoogLeNet's,
    Inception-v3's) and by :func:`~inception_cost.models.resolve.resolve_model` otherwise;
    its default (C, H, W) fills ``input_size`` unless that or ``inputs`` is given; the
    label is the spec.  A module is returned as given, with ``input_size`` as given and
    no label (the analysis names it after its class).  Anything else is a UsageError."""
    if isinstance(model, str):
        module, default, label = (resolve_training_model if training else resolve_model)(model)
        if input_size is None and inputs is None:
            input_size = default
        return module, input_size, label
    if isinstance(model, nn.Module):
        return model, input_size, None
    raise UsageError(f"model must be an nn.Module or a model name, got {type(model).__name__}")


def _takes(measure):
    """The entry below has ``measure``'s signature (``help``, ``inspect.signature``) and
    its docstring after its own."""
    def wrap(entry):
        entry.__wrapped__ = measure
        entry.__doc__ = f"{entry.__doc__}\n\n{measure.__doc__}"
        return entry
    return wrap


@_takes(api.memory)
def memory(model, input_size=None, *, training=False, inputs=None, name=None, **options):
    """``model``: an ``nn.Module`` or a model spec (``training=True`` builds its
    training-only auxiliary heads, as ``memory --train`` does; default input: the
    variant's).  Predicted memory (bytes) of :func:`inception_cost.memory_analysis.memory`:"""
    module, size, label = model_of(model, input_size, training=bool(training), inputs=inputs)
    return api.memory(module, size, training=training, inputs=inputs, name=name or label,
                      **options)


@_takes(api.fit_batch)
def fit_batch(model, budget, input_size=None, *, training=False, inputs=None, **options):
    """``model``: an ``nn.Module`` or a model spec (as :func:`memory`).  The largest batch
    of :func:`inception_cost.memory_analysis.fit_batch`:"""
    module, size, _label = model_of(model, input_size, training=bool(training), inputs=inputs)
    return api.fit_batch(module, budget, size, training=training, inputs=inputs, **options)


@_takes(combined_step.analyse_step)
def analyse_step(model, input_size=None, *, inputs=None, name=None, **options):
    """``model``: an ``nn.Module`` or a model spec (built for training, auxiliary heads
    included).  Training counts (MACs, FLOPs, bytes) and memory (bytes) of one step,
    :func:`inception_cost.memory_analysis.analyse_step`:"""
    module, size, label = model_of(model, input_size, training=True, inputs=inputs)
    return combined_step.analyse_step(module, size, inputs=inputs, name=name or label,
                                      **options)


@_takes(planner.checkpoint_plan)
def checkpoint_plan(model, input_size=None, *, name=None, **options):
    """``model``: an ``nn.Module`` or a model spec; a spec is built for training, with its
    training-only auxiliary heads, as ``memory --train`` and ``memory --plan`` build it.
    The plan of :func:`inception_cost.checkpointing.planner.checkpoint_plan`:"""
    module, size, label = model_of(model, input_size, training=True)
    return planner.checkpoint_plan(module, size, name=name or label, **options)


__all__ = ["memory", "fit_batch", "analyse_step", "checkpoint_plan", "model_of"]
