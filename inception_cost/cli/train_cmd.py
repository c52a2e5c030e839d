"""``inception-cost train MODEL``: forward + backward + optimizer cost of one training step."""
from __future__ import annotations

import click

from ..counting.engine import ForwardError
from ..counting.optimizer_formulas import OPTIMIZERS
from ..counting.training import count_training
from ..errors import UsageError
from ..models.resolve import example_inputs, resolve_training_model
from ..report.training_table import FIRST, OPTIONAL, UNITS, training_notes, training_table
from ..report.render import render, write_output
from .input_option import (full_shapes, default_call, input_options, make_call, parse_dtype,
                           parse_input)
from .layers import call_title, count_error
from .limits import check_numel
from .options import format_option, output_option
from .vocabulary import optimizer_name

DEFAULT_BATCH = 32
"""Training batch per replica in Szegedy et al. 2016 (Rethinking), Sec. 8."""


def _batched(specs, module) -> bool:
    """Whether the --input shapes include the batch (then --batch defaults to it)."""
    return full_shapes(specs, module, None)[0] == specs[0].shape


@click.command("train")
@click.argument("model")
@input_options
@click.option("--batch", default=None, type=int,
              help=f"Batch size N [default: {DEFAULT_BATCH}, Rethinking's training batch per "
                   "replica, or the first size of a batched --input].")
@click.option("--optimizer", default="sgd", show_default=True,
              help=f"One of {', '.join(OPTIMIZERS)}, or none.")
@click.option("--freeze", default=None,
              help="Comma-separated module/parameter patterns with no gradient, e.g. 'conv1,conv2*'.")
@click.option("--aux/--no-aux", default=True, show_default=True,
              help="Build the auxiliary classifiers where the model has them (GoogLeNet, Inception-v3).")
@click.option("--depth", default=None, type=int, help="Aggregate by module depth K.")
@click.option("--checkpoint", default=None,
              help="PLAN.json (from memory --plan --save-plan): add the recompute of that "
                   "checkpointing plan as its own phase.")
@format_option()
@output_option()
def train_cmd(model, input_, dtype, batch, optimizer, freeze, aux, depth, checkpoint, fmt,
              output):
    """Per-layer MACs/FLOPs of one training step of MODEL: forward (train mode),
    backward split into input- and weight-gradient work, and the optimizer step.

    MODEL: a variant name, torchvision:NAME, timm:NAME or path/to/file.py:factory."""
    if batch is not None and batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    optimizer = optimizer_name(optimizer)
    module, default_size, label = resolve_training_model(model, aux)
    specs = [parse_input(t) for t in input_]
    dt = parse_dtype(dtype)
    if dt is not None:
        module = module.to(dt)
    if specs:
        if batch is None and not _batched(specs, module):
            batch = DEFAULT_BATCH
        call = make_call(specs, module, batch, "meta", dt)
    else:
        if len(default_size) == 3:
            check_numel(batch or DEFAULT_BATCH, tuple(default_size))
        call = default_call(module, default_size, batch or DEFAULT_BATCH, "meta", dt,
                            example_inputs(module))
    try:
        report = count_training(module, inputs=call.inputs, optimizer=optimizer, freeze=freeze,
                                name=label)
    except ForwardError as e:
        # train runs on meta only: no --device hint, but the int64 size-overflow line of `layers`
        raise count_error(e, "cpu") from None
    title = (f"{label} training step @ {call_title(call)}, "
             f"optimizer {report.optimizer.name if report.optimizer else 'none'}")
    text = render(training_table(report, depth, fmt), fmt, title=title, units=UNITS,
                  notes=training_notes(report), optional=OPTIONAL, first=FIRST)
    if checkpoint:
        from .checkpoint_cli import train_phases
        phases = train_phases(module, call.inputs, optimizer, freeze, report, checkpoint)
        ptext = render(phases, fmt, title=f"by phase, with checkpointing plan {checkpoint}",
                       notes=["recompute: forward work run again inside backward (counted: "
                              "the wrapped step minus the plain one)"])
        text = ptext if fmt in ("csv", "json") else text + "\n" + ptext
    write_output(text, output)


