"""``inception-cost train MODEL``: forward + backward + optimizer cost of one training step."""
from __future__ import annotations

import click

from ..counting.engine import ForwardError
from ..counting.training import count_training
from ..errors import UsageError
from ..models.resolve import example_inputs, resolve_training_model
from ..report.training_table import FIRST, OPTIONAL, UNITS, training_notes, training_table
from ..report.render import render, write_output
from .input_option import (batch_for, default_call, input_options, make_call, parse_dtype,
                           parse_input, rejected)
from .layers import call_title, check_cpu_forward, count_error
from .limits import check_numel
from .options import (batch_option, format_option, freeze_option, optimizer_option,
                      output_option)
from .vocabulary import optimizer_name


@click.command("train")
@click.argument("model")
@input_options
@batch_option(training=True)
@optimizer_option()
@freeze_option()
@click.option("--aux/--no-aux", default=True, show_default=True,
              help="Build the auxiliary classifiers where the model has them (GoogLeNet, Inception-v3).")
@click.option("--depth", default=None, type=int, help="Aggregate by module depth K.")
@click.option("--device", type=click.Choice(["meta", "cpu"]), default="meta", show_default=True,
              help="meta: no memory at any size; cpu: a real step, for models whose forward "
                   "reads tensor values (a transformer's attention mask).")
@click.option("--checkpoint", default=None,
              help="PLAN.json (from memory --plan --save-plan): add the recompute of that "
                   "checkpointing plan as its own phase.")
@format_option()
@output_option()
def train_cmd(model, input_, dtype, batch, optimizer, freeze, aux, depth, device, checkpoint,
              fmt, output):
    """Per-layer MACs/FLOPs of one training step of MODEL: forward (train mode),
    backward split into input- and weight-gradient work, and the optimizer step.

    MODEL: a variant name, torchvision:NAME, timm:NAME or path/to/file.py:factory."""
    if batch is not None and batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    optimizer = optimizer_name(optimizer)
    module, default_size, label = resolve_training_model(model, aux, device=device)
    specs = [parse_input(t) for t in input_]
    dt = parse_dtype(dtype)
    if dt is not None:
        module = module.to(dt)
    example = example_inputs(module)
    batch = batch_for(batch, specs, module, True, example)

    def build(dev):
        if specs:
            return make_call(specs, module, batch, dev, dt)
        if len(default_size) == 3 and example is None:
            check_numel(batch, tuple(default_size))
        return default_call(module, default_size, batch, dev, dt, example)
    call = build("meta")
    if device != "meta":   # a real step: check its memory before making the inputs
        check_cpu_forward(module, call, "--device cpu")
        call = build(device)
    try:
        report = count_training(module, inputs=call.inputs, optimizer=optimizer, freeze=freeze,
                                name=label, device=device)
    except ForwardError as e:
        err = count_error(e, device)
        raise (rejected(err, call.text, module) if specs else err) from None
    title = (f"{label} training step @ {call_title(call)}, "
             f"optimizer {optimizer if report.optimizer else 'none'}")
    phases = None
    if checkpoint:
        from .checkpoint_cli import train_phases
        phases = train_phases(module, call.inputs, optimizer, freeze, report, checkpoint)
    if fmt == "json":
        write_output(train_json(report, depth, label, call, module, freeze, aux, device,
                                checkpoint, phases), output)
        return
    text = render(training_table(report, depth, fmt), fmt, title=title, units=UNITS,
                  notes=training_notes(report), optional=OPTIONAL, first=FIRST)
    if phases is not None:
        ptext = render(phases, fmt, title=f"by phase, with checkpointing plan {checkpoint}",
                       notes=["recompute: forward work run again inside backward (counted: "
                              "the wrapped step minus the plain one)"])
        text = ptext if fmt == "csv" else text + "\n" + ptext
    write_output(text, output)


def train_json(report, depth, label: str, call, module, freeze, aux: bool, device: str,
               checkpoint: str | None, phases) -> str:
    """{model, input, convention, batch, optimizer, dtype, freeze, frozen, aux, depth,
    device, totals, rows} (and ``checkpoint`` and ``phases`` with --checkpoint): exact
    integers (params in elements, *_macs in MACs, *_flops in FLOPs, *_bytes in bytes
    moved); ``totals`` is the sum of ``rows`` at any depth."""
    from ..report.json_object import call_inputs, dumps, json_object, rows_of
    floats = [p.dtype for p in module.parameters() if p.is_floating_point()]
    dtype = str(floats[0] if floats else "torch.float32").replace("torch.", "")
    extra = {}
    if checkpoint:
        extra = {"checkpoint": checkpoint, "phases": rows_of(phases)}
    return dumps(json_object(
        label, call_inputs(call), report.totals(),
        rows_of(training_table(report, depth, "json")), convention="native",
        batch=call.batch, optimizer=report.optimizer.name if report.optimizer else "none",
        dtype=dtype, freeze=freeze, frozen=list(report.frozen), aux=aux,
        aux_modules=list(report.aux_modules), depth=depth, device=device, **extra))
