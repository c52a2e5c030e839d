"""``inception-cost predict MODEL --on DEVICE``: predicted latency per layer and in total."""
from __future__ import annotations

import textwrap

import click
import torch

from ..counting.engine import ForwardError
from ..counting.inputs import float_dtype
from ..errors import UsageError
from ..counting.arguments import check_freeze
from ..counting.step_program import freeze_patterns
from ..models.resolve import example_inputs, resolve_model, resolve_training_model
from ..report.prediction_table import (layer_table, layers_csv_frame, prediction_json,
                                       prediction_notes, totals_table)
from ..report.fit import terminal_width
from ..report.plain_table import plain_tables
from ..report.render import render, to_terminal, write_output
from ..timing_model.api import _mode, optimizer_label, record_events
from ..timing_model.devices import find_device
from ..timing_model.model import MODE_DTYPE, predict_events
from ..timing_model.record import torch_dtype
from .input_option import InputSpec, make_call, parse_input, per_sample, rejected
from .options import (batch_option, default_batch, dtype_option, format_option, freeze_option,
                      input_option, optimizer_option, output_option, parse_int_list)
from .vocabulary import optimizer_name


def _wrap(notes, width: int):
    return [textwrap.fill(n, width - 1, break_long_words=False, break_on_hyphens=False)
            for n in notes]


def fitted_layer_table(table, title: str, width: int) -> tuple[str, list[str]]:
    """(text, notes) of the per-layer table in ``width`` columns, no cell split: devices
    side by side as far as they fit, the others in further tables; FLOP/B left out (and
    named) when one device beside it does not fit; as a last resort, records."""
    text = plain_tables(table, title, keep=2, group=2, width=width)
    if text is not None:
        return text, []
    note = [f"not shown at {width} columns: FLOP/B (--format md/csv/json carry every column; "
            "a larger COLUMNS shows more)"]
    text = plain_tables(table.drop(columns=["FLOP/B"]), title, keep=1, group=2, width=width)
    return (text, note) if text is not None else (render(table, "rich", title=title), [])


def input_specs(texts, module, batches: list[int], batch_given: bool):
    """([(spec, shape without the batch)], batch sizes) from ``--input``, read as ``layers``
    reads it (several inputs, keywords, integer dtypes and ranges); a shape with the batch
    fixes the batch."""
    specs = [parse_input(t) for t in texts]
    one = batches[0] if batch_given and len(batches) == 1 else None
    pairs, carried = per_sample(specs, module, one)
    if carried is not None and batch_given and batches != [carried]:
        raise UsageError(f"--batch {','.join(map(str, batches))} disagrees with --input "
                         f"{texts[0]} (its first size is the batch): give one of them")
    return pairs, [carried] if carried is not None else batches


def example_specs(example, batches: list[int], batch_given: bool):
    """([(spec, shape without the batch)], batch sizes) from a factory's example inputs (a
    tensor, a tuple of tensors or a dict of keyword tensors; each tensor's first size is the
    batch, which --batch replaces)."""
    if isinstance(example, torch.Tensor):
        example = (example,)
    named = list(example.items()) if isinstance(example, dict) else \
        [(None, t) for t in example]
    if not named or any(not isinstance(t, torch.Tensor) or t.dim() == 0 for _, t in named):
        raise UsageError("the factory's example inputs must be tensors with a batch size first")
    pairs = [(InputSpec(tuple(int(v) for v in t.shape), t.dtype, keyword=k, dtype_given=True),
              tuple(int(v) for v in t.shape[1:])) for k, t in named]
    return pairs, batches if batch_given else [int(named[0][1].shape[0])]


def sample_inputs(pairs, dtype: torch.dtype) -> list[dict]:
    """The JSON input list: one entry per forward argument, its shape per batch element
    (the batch is the object's ``batch``), float inputs in the math mode's dtype."""
    from ..report.json_object import input_entry
    return [input_entry(s.keyword, shape, dtype if s.dtype.is_floating_point else s.dtype)
            for s, shape in pairs]


def batch_call(pairs, module, n: int, dtype: torch.dtype):
    """The forward's meta tensors at batch ``n`` (float inputs in ``dtype``, the math mode's)."""
    specs = [s for s, _ in pairs]
    return make_call(specs, module, None, "meta", dtype, shapes=[(n, *shape) for _, shape in pairs])


@click.command("predict")
@click.argument("model")
@click.option("--on", "on", multiple=True, default=("H100",), show_default=True,
              help="Device: a catalog name (see `devices`; case, spaces, dashes ignored) or a "
                   "device file from `calibrate`. Repeat for side-by-side columns.")
@dtype_option("Math mode: fp32 | tf32 | fp16 | bf16",
              detail="fp16/bf16: tensor cores, FP32 accumulate. A model built in fp16/bf16 "
                     "(.half()) runs in its dtype.")
@batch_option(sweep=True)
@input_option()
@click.option("--train", is_flag=True, help="One training step: forward, loss, backward and the "
                                            "--optimizer step, as `train` counts it.")
@optimizer_option()
@freeze_option()
@click.option("--depth", default=None, type=int, help="Sum layers to module depth K.")
@format_option()
@output_option()
@click.pass_context
def predict_cmd(ctx, model, on, dtype, batch, input_, train, optimizer, freeze, depth, fmt, output):
    """Predicted time of MODEL on named devices, per layer and in total (eager, no fusion).

    Per op: max(FLOPs / (peak x efficiency), bytes / (bandwidth x efficiency)) + launch
    overhead, from the exact FLOPs and bytes of every op the model runs. MODEL: a variant
    name, torchvision:NAME, timm:NAME or path/to/file.py:factory."""
    if not train:
        for name in ("optimizer", "freeze"):
            if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT:
                raise UsageError(f"--{name} describes a training step: add --train")
    else:
        optimizer = optimizer_name(optimizer)
        optimizer_label(optimizer)        # an unknown name fails before the model is built
        check_freeze(freeze)
    mode = _mode(dtype)
    devices = [find_device(d) for d in on]
    for d in devices:
        d.peak(mode)
    batches = parse_int_list(batch or str(default_batch(train)), "--batch")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    module, size, label = (resolve_training_model if train else resolve_model)(model)
    if mode == "fp32":     # a model built in fp16/bf16 (.half()) runs in its own dtype
        mode = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(float_dtype(module), mode)
        for d in devices:
            d.peak(mode)
    if input_:
        pairs, batches = input_specs(input_, module, batches, batch is not None)
    elif example_inputs(module) is not None:
        pairs, batches = example_specs(example_inputs(module), batches, batch is not None)
    else:
        pairs = [(InputSpec(tuple(size)), tuple(size))]
    run_dtype = torch_dtype(MODE_DTYPE[mode])
    if not train:
        from ..timing_model.record import meta_model
        module = meta_model(module, MODE_DTYPE[mode])     # one meta copy for every batch size
    preds, calls = [], {}
    for n in batches:
        call = calls[n] = batch_call(pairs, module, n, run_dtype)    # inputs rebuilt per batch
        try:
            events = record_events(module, None, mode, train, optimizer=optimizer,
                                   freeze=freeze, inputs=call.inputs)   # one stream per batch
        except ForwardError as e:
            # the model's forward, loss or backward rejected this input; an error of the
            # recording itself keeps its type (an internal error, as in every command)
            raise (rejected(e, call.text, module) if input_ else UsageError(str(e))) from None
        preds += [predict_events(events, d, mode, batch=n, training=train, model_name=label,
                                 optimizer=optimizer_label(optimizer) if train else "")
                  for d in devices]
    what = f"training step ({optimizer_label(optimizer)})" if train else "forward"
    frozen = freeze_patterns(freeze)
    if fmt == "json":
        write_output(prediction_json(preds, label, train, sample_inputs(pairs, run_dtype),
                                     freeze=frozen,
                                     batch=batches,
                                     dtype=mode, devices=[d.name for d in devices]), output)
        return
    if fmt == "csv":
        write_output(render(layers_csv_frame(preds, depth), "csv"), output)
        return
    parts, left_out = [], []
    width = terminal_width(to_terminal())
    for n in batches:
        group = [p for p in preds if p.batch == n]
        title = f"{label} {what} @ {calls[n].text}, {mode}: predicted ms per layer"
        table = layer_table(group, depth, stacked=fmt == "rich")
        if fmt == "rich":
            text, note = fitted_layer_table(table, title, width)
            parts.append(text)
            left_out += [x for x in note if x not in left_out]
        else:
            parts.append(render(table, fmt, title=title))
    notes = left_out + prediction_notes(preds, frozen)
    notes = _wrap(notes, width) if fmt == "rich" else notes
    parts.append(render(totals_table(preds), fmt, title=f"{label} {what}, {mode}: totals (ms)", notes=notes))
    write_output("\n".join(parts), output)
