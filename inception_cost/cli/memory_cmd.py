"""``inception-cost memory MODEL``: predicted peak memory of inference or of a training
step (bytes, by category, per module), and with --fit the largest batch that fits."""
from __future__ import annotations

import contextlib
import json
import os

import click
import pandas as pd

from ..atomic import writable_folder
from ..errors import UsageError
from ..memory_analysis.api import (DEFAULT_RESERVE, fit_batch, memory, memory_optimizer,
                                   model_dtype, reserve_bytes)
from ..memory_analysis.categories import DESCRIPTIONS
from ..memory_analysis.failures import ReadsValuesError
from ..memory_analysis.fit import check_budget
from ..memory_analysis.sizes import parse_size
from ..memory_analysis.step_config import DEVICES, DTYPES, STEPS, check_options
from ..models.resolve import example_inputs, resolve_model, resolve_training_model
from ..units import human_bytes
from ..report.json_object import (dumps, input_entry, json_object, rows_of, tensor_inputs,
                                  with_envelope)
from ..report.render import render, to_csv, write_output
from .input_option import batch_for, default_call, make_call, parse_input, rejected
from .options import (batch_option, default_batch, dtype_option, format_option, input_option,
                      optimizer_option, output_option)
from .vocabulary import optimizer_name

BYTE_COLUMNS = ("param_bytes", "output_bytes", "saved_bytes", "live_forward_peak_bytes",
                "live_backward_peak_bytes")

# shorter headers for the terminal view (md/csv/json keep the column names)
TERMINAL_HEADERS = {"forward_ops": "ops", "param_bytes": "params", "output_bytes": "output",
                    "saved_bytes": "saved", "live_forward_peak_bytes": "live fwd peak",
                    "live_backward_peak_bytes": "live bwd peak"}


def _human(df: pd.DataFrame, cols) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        if c in out.columns:
            out[c] = out[c].map(lambda v: "none" if v is None else human_bytes(v) if v else "0")
    return out


def modules_table(report, depth: int) -> pd.DataFrame:
    df = report.modules[report.modules["depth"] <= depth]
    return df.drop(columns=["live_backward_peak_bytes"]) if not report.training else df


def target_note(report) -> str:
    """What was modelled for the target device: optimizer implementation, attention."""
    parts = [f"target {report.device}"]
    if report.training and report.optimizer != "none":
        parts.append("optimizer " + ("multi-tensor (foreach)" if report.foreach
                                     else "per-parameter loop"))
    if report.attention:
        parts.append("scaled_dot_product_attention: " + ", ".join(
            f"{k} x{v}" for k, v in sorted(report.attention.items())))
    return "; ".join(parts)


def fit_table(results) -> pd.DataFrame:
    """One row per mode; largest_batch 0 with an empty peak_bytes when not even batch 1 fits
    (its peak is then peak_bytes_at_batch_plus_1)."""
    return pd.DataFrame([{"mode": "training" if r.training else "inference",
                          "budget_bytes": r.budget_bytes, "largest_batch": r.batch,
                          "peak_bytes": r.peak_bytes,
                          "peak_bytes_at_batch_plus_1": r.next_peak_bytes,
                          "parameter_bytes": r.static_bytes, "probes": r.probes}
                         for r in results], dtype=object)


FIT_HEADERS = {"budget_bytes": "budget", "largest_batch": "largest batch", "peak_bytes": "peak",
               "peak_bytes_at_batch_plus_1": "peak at batch + 1", "parameter_bytes": "parameters"}
"""Short headers of the terminal view (csv/json keep the column names), so that it fits 100
columns."""


def fit_totals(results) -> dict:
    """The largest batch that fits, per mode searched (0: not even batch 1)."""
    return {f"largest_batch_{'training' if r.training else 'inference'}": r.batch
            for r in results}


def fit_notes(results) -> list[str]:
    """A line for every mode in which not even batch 1 fits."""
    return [f"{'training' if r.training else 'inference'}: batch 1 does not fit; it needs "
            f"{r.next_peak_bytes:,} bytes ({human_bytes(r.next_peak_bytes)}; parameters "
            f"{human_bytes(r.static_bytes)})" for r in results if r.batch == 0]


def check_combination(fit_: str | None, batch_given: bool, timeline: bool,
                      plots_dir: str | None, fmt: str) -> None:
    """Options that cannot be honoured together: one error line each."""
    if fit_ is not None:
        for given, name in ((batch_given, "--batch"), (timeline, "--timeline"),
                            (plots_dir is not None, "--plots")):
            if given:
                raise UsageError(f"--fit searches the batch and prints one row per mode; "
                                 f"{name} does not apply to it (leave {name} out, or --fit)")
    if timeline and fmt not in ("csv", "json"):
        raise UsageError("--timeline is one row per op, written as --format csv or json "
                         f"(got --format {fmt})")


def _model(spec: str, training: bool, aux: bool, device: str = "meta"):
    """(module, default C x H x W, label): with the training-only heads `train` builds for a
    training step (``resolve_training_model``), without them for inference."""
    return resolve_training_model(spec, aux, device=device) if training else \
        resolve_model(spec, device=device)


def _check_real_step(module, training: bool, optimizer: str) -> None:
    """UsageError when a real CPU step of ``module`` would hold more than the real-forward
    limit in weights alone (x 2 with gradients, + the optimizer's state per element)."""
    from .limits import real_forward_cap
    states = {"none": 0, "sgd": 0, "momentum": 1, "rmsprop": 1, "adagrad": 1}.get(optimizer, 2)
    copies = (2 + states) if training else 1
    need = copies * sum(p.numel() * p.element_size() for p in module.parameters())
    cap = real_forward_cap()
    if need > cap:
        raise UsageError(f"--device cpu runs this model's step for real (its forward reads "
                         f"tensor values), which needs at least {need / 2**30:,.1f} GiB, over "
                         f"the {cap / 2**30:.1f} GiB limit")


@contextlib.contextmanager
def _naming_inputs(specs, shown: str, module):
    """A forward that fails on the ``--input`` given: the error line shows the inputs and
    the forward's signature (as ``layers`` and ``train`` do)."""
    try:
        yield
    except UsageError as e:
        if specs and type(e) is UsageError and str(e).startswith("forward failed"):
            raise rejected(e, shown, module) from None
        raise


def _call(module, default_size, specs, batch, training: bool):
    """(inputs or None, batch, C x H x W or None, input text) of the analysed step: the
    --input tensors, a factory's example inputs, or the model's own size at --batch
    (default: 1 for inference, 32 for a training step, as every command)."""
    example = example_inputs(module)
    batch = batch_for(batch, specs, module, training, example)
    if specs or example is not None:
        call = make_call(specs, module, batch, "meta") if specs else \
            default_call(module, default_size, batch, "meta", example=example)
        return call.inputs, call.batch, None, call.text
    return None, batch, tuple(default_size), f"{batch}x{'x'.join(map(str, default_size))}"


def input_list(inputs, batch: int | None, chw, dtype: str) -> list[dict]:
    """The analysed step's inputs as ``{name, shape, dtype}``: float inputs in the dtype
    the memory model runs them in (``--dtype``; amp keeps fp32 inputs). ``batch`` None
    (``--fit``, which searches it): shapes per sample, without the batch."""
    run = DTYPES[dtype]
    if inputs is None:
        return [input_entry(None, ((batch,) if batch else ()) + tuple(chw), run)]
    args, kwargs = inputs if isinstance(inputs, tuple) and len(inputs) == 2 and \
        isinstance(inputs[1], dict) else ((() if isinstance(inputs, dict) else inputs),
                                          (inputs if isinstance(inputs, dict) else {}))
    out = tensor_inputs(args, kwargs)
    for e in out:
        if e["dtype"].startswith(("float", "bfloat")):
            e["dtype"] = str(run).replace("torch.", "")
        if batch is None:
            e["shape"] = e["shape"][1:]
    return out


def memory_totals(report) -> dict:
    """The step's totals in bytes: the peak, parameters, buffers, every op's output summed."""
    return {"peak_bytes": report.peak_bytes, "parameter_bytes": report.parameter_bytes,
            "buffer_bytes": report.buffer_bytes,
            "activation_sum_bytes": report.activation_sum_bytes}


@click.command("memory")
@click.argument("model")
@click.option("--train", is_flag=True, help="A training step: forward, loss, backward, "
                                            "optimizer step (default: inference).")
@optimizer_option(extra=("rmsprop", "adagrad"))
@batch_option()
@input_option()
@dtype_option(" | ".join(DTYPES), "fp32", "amp: fp32 parameters, fp16 autocast. A model "
              "built in fp16/bf16 (.half()) is analysed in its dtype.")
@click.option("--step", default="steady", show_default=True,
              help=f"{' | '.join(STEPS)}. steady: optimizer state exists already (every "
                   "step after the first); first: created inside this step.")
@click.option("--device", default="cuda", show_default=True,
              help=f"{' | '.join(DEVICES)}: the target whose default kernels (fused "
                   "attention) and optimizer implementation are modelled.")
@click.option("--foreach/--no-foreach", default=None,
              help="Optimizer implementation: multi-tensor (foreach) or per-parameter loop "
                   "(default: the target's default, foreach on cuda, loop on cpu).")
@click.option("--rounding", is_flag=True,
              help="Round every allocation up to 512 bytes like the CUDA caching allocator.")
@click.option("--fit", "fit_", default=None,
              help="A memory size (16GiB = 16G, 24GB, 8.2GB, 512MiB): print the largest batch "
                   "that fits, for inference and for training (with --train: training only).")
@click.option("--reserve", default=DEFAULT_RESERVE, show_default=True,
              help="With --fit: headroom kept free, a percentage of the budget or a size "
                   "(256MiB, 0), for what is not predicted (fragmentation, cuDNN workspace).")
@click.option("--depth", default=1, show_default=True, type=int,
              help="Module rows down to this depth (csv/json carry all).")
@click.option("--timeline", is_flag=True,
              help="csv/json: the per-op timeline instead of the module rows.")
@click.option("--plots", "plots_dir", default=None,
              help="Also write the timeline and module bar plots (PNG) into this folder.")
@click.option("--aux/--no-aux", default=True, show_default=True,
              help="With --train: build the auxiliary classifiers where the model has them "
                   "(GoogLeNet, Inception-v3), as `train` does.")
@click.option("--budget", default=None,
              help="With --train --plan: the memory budget (16GiB, 8GB) the step must fit.")
@click.option("--plan", "plan_", is_flag=True,
              help="With --train --budget: choose modules to checkpoint (least recompute).")
@click.option("--save-plan", default=None,
              help="With --plan: also write the plan as an editable JSON file.")
@click.option("--checkpoint", default=None,
              help="PLAN.json: analyse the model with that plan applied; with --fit: "
                   "'auto' adds the largest training batch with the best plan.")
@format_option()
@output_option()
@click.pass_context
def memory_cmd(ctx, model, train, optimizer, batch, input_, dtype, step, device, foreach,
               rounding, fit_, reserve, depth, timeline, plots_dir, aux, budget, plan_,
               save_plan, checkpoint, fmt, output):
    """Predicted memory (bytes) of MODEL: the peak and when it happens, the peak split
    into parameters, buffers, gradients, optimizer state, activations saved for backward
    and transient tensors, per-module rows, and the live bytes after every op.  Tracked
    storage by storage on the meta device; nothing is allocated for real.

    MODEL: a variant name (see `inception-cost variants`), torchvision:NAME, timm:NAME,
    or path/to/file.py:factory."""
    shown_optimizer = optimizer_name(optimizer)     # the shared vocabulary's name
    optimizer = memory_optimizer(shown_optimizer)   # the memory model's name
    dtype, step = dtype.strip().lower(), step.lower()
    if batch is not None and batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    check_options(dtype, optimizer, step, batch or default_batch(train))
    device = device.strip().lower()
    if device not in DEVICES:
        raise UsageError(f"unknown --device '{device}' (choose from {', '.join(DEVICES)})")
    if depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    wrapped = None
    if plan_ or budget is not None or save_plan or checkpoint is not None:
        from .checkpoint_cli import memory_checkpointing
        if len(input_) > 1:
            raise UsageError("checkpoint planning takes one image --input (C x H x W)")
        wrapped = memory_checkpointing(model, train, optimizer, batch or default_batch(train),
                                       input_[0] if input_ else None, dtype, step, rounding,
                                       fit_, budget, plan_, save_plan, checkpoint, fmt, output,
                                       reserve)
        if wrapped is None:
            return
    batch_given = ctx.get_parameter_source("batch") != click.core.ParameterSource.DEFAULT
    check_combination(fit_, batch_given, timeline, plots_dir, fmt)
    budget = parse_size(fit_) if fit_ is not None else None
    if plots_dir:   # before the analysis: a folder that cannot take files fails at once
        writable_folder(plots_dir, "--plots")
    kept = reserve_bytes(reserve, budget) if budget is not None else 0
    specs = [parse_input(t) for t in input_]
    if budget is not None:
        modes = (True,) if train else (False, True)
        results = []
        for t in modes:
            module, default_size, label = _model(model, t, aux)
            inputs, _b, chw, shown = _call(module, default_size, specs, None, False)
            try:
                with _naming_inputs(specs, shown, module):
                    results.append(fit_batch(module, budget, chw, training=t,
                                             optimizer=optimizer, dtype=dtype,
                                             allocator_rounding=rounding, step=step,
                                             device=device, foreach=foreach, reserve=kept,
                                             inputs=inputs))
            except ReadsValuesError as e:
                if device != "cpu":
                    raise
                raise UsageError(f"{str(e).split(' — ')[0]} — this model's forward reads "
                                 "tensor values, so --fit cannot search it on the meta device "
                                 "(each probe would be a real CPU step); analyse one size "
                                 "with --device cpu instead") from None
        check_budget(results)
        df = fit_table(results)
        if fmt == "csv":
            text = to_csv(df)
        elif fmt == "json":
            text = dumps(json_object(
                label, input_list(inputs, None, chw, dtype), fit_totals(results),
                rows_of(df), budget_bytes=budget, reserve_bytes=kept, dtype=dtype,
                optimizer=shown_optimizer, step=step, device=device, rounding=rounding))
        else:
            shown_df = _human(df, ("budget_bytes", "peak_bytes", "peak_bytes_at_batch_plus_1",
                                   "parameter_bytes")).rename(columns=FIT_HEADERS)
            per_sample = "x".join(map(str, chw)) if chw else shown
            text = render(shown_df, fmt, title=f"{label} {per_sample} {model_dtype(module, dtype)}: "
                                            f"largest batch in {human_bytes(budget)}",
                          notes=fit_notes(results)
                          + [f"training = forward + loss + backward + {shown_optimizer} step "
                             f"({step} state); bytes "
                             + ("rounded to 512-byte blocks" if rounding else "exact"),
                             f"target {device}; reserve {human_bytes(kept)} ({reserve}) kept "
                             "free: largest batch with peak <= budget - reserve"])
        write_output(text, output)
        return
    module, default_size, label = _model(model, train, aux)
    if wrapped is not None:      # --checkpoint PLAN.json: the model as planned
        module = wrapped
    inputs, batch, chw, shown = _call(module, default_size, specs, batch, train)
    args = dict(batch=batch, training=train, optimizer=optimizer, dtype=dtype,
                allocator_rounding=rounding, step=step, name=label, device=device,
                foreach=foreach, inputs=inputs)
    real = False
    try:
        with _naming_inputs(specs, shown, module):
            report = memory(module, chw, **args)
    except ReadsValuesError:
        if device != "cpu" or wrapped is not None:
            raise
        # the forward reads values: the step runs for real, on the model built on the CPU
        _check_real_step(module, train, optimizer if train else "none")
        module, _size, _label = _model(model, train, aux, device="cpu")
        report, real = memory(module, chw, **args), True
    if plots_dir:
        from ..report.memory_plots import module_bars, plot_stem, timeline_plot
        tag = f"{plot_stem(label)}_b{batch}_{'train' if train else 'inference'}"
        timeline_plot(report, os.path.join(plots_dir, f"{tag}_memory_timeline.png"))
        module_bars(report, os.path.join(plots_dir, f"{tag}_memory_modules.png"), depth=max(depth, 1))
    if fmt == "csv":
        write_output(to_csv(report.timeline if timeline else report.modules), output)
        return
    if fmt == "json":
        data = report.to_dict()
        if train:
            data["optimizer"] = shown_optimizer
        if timeline:   # Python integers: exact past 2**63 - 1
            data["timeline"] = [{k: (v.item() if hasattr(v, "item") else v)
                                 for k, v in row.items()}
                                for row in report.timeline.to_dict(orient="records")]
        data = with_envelope(data, input_list(inputs, batch, chw, dtype), memory_totals(report),
                             data["modules"])      # rows: the module rows ("modules" kept)
        write_output(json.dumps(data, indent=2) + "\n", output)
        return
    summary = report.summary()
    summary.insert(2, "size", summary["bytes"].map(human_bytes))
    peak_note = summary["note"].iat[0]
    summary = summary.drop(columns=["note"])
    what = (f"training step ({shown_optimizer}, {step} optimizer state)" if train
            else "inference")
    notes = [f"peak: {peak_note}",
             f"bytes: {'rounded up to 512-byte blocks per allocation (CUDA caching allocator)' if rounding else 'exact (dtype size x elements), no allocator rounding'}; "
             "peak = most bytes alive after any op"]
    notes.append(target_note(report))
    if real:
        notes.append("tracked on a real CPU step (the forward reads tensor values); integer "
                     "inputs all zeros")
    notes += [f"{k}: {v}" for k, v in DESCRIPTIONS.items()]
    parts = [render(summary, fmt, title=f"{label} @ {shown} {report.dtype}: "
                                        f"{what}", notes=notes)]
    mods = _human(modules_table(report, depth), BYTE_COLUMNS)
    if fmt == "rich":
        mods = mods.rename(columns=TERMINAL_HEADERS)
    parts.append(render(mods, fmt, title=f"per module (depth <= {depth}; each row includes "
                                          "its submodules)",
                        notes=["output: bytes its forward ops allocated; saved: activation "
                               "bytes first saved for backward while it ran; live: most "
                               "bytes alive after any of its ops"],
                        optional=["depth", "ops", "type"]))
    write_output("\n".join(parts), output)
