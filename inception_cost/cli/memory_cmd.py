"""``inception-cost memory MODEL``: predicted peak memory of inference or of a training
step (bytes, by category, per module), and with --fit the largest batch that fits."""
from __future__ import annotations

import json
import os

import click
import pandas as pd

from ..errors import UsageError
from ..memory_analysis.api import fit_batch, memory
from ..memory_analysis.categories import DESCRIPTIONS
from ..memory_analysis.sizes import parse_size
from ..memory_analysis.step import DTYPES, OPTIMIZERS, STEPS, check_options
from ..models.resolve import resolve_model
from ..report.units import human_bytes
from ..report.render import render, to_csv, write_output
from .options import format_option, output_option, parse_chw

BYTE_COLUMNS = ("param_bytes", "output_bytes", "saved_bytes", "live_forward_peak_bytes",
                "live_backward_peak_bytes")


def _human(df: pd.DataFrame, cols) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        if c in out.columns:
            out[c] = out[c].map(lambda v: human_bytes(v) if v else "0")
    return out


def modules_table(report, depth: int) -> pd.DataFrame:
    df = report.modules[report.modules["depth"] <= depth]
    return df.drop(columns=["live_backward_peak_bytes"]) if not report.training else df


def fit_table(results) -> pd.DataFrame:
    return pd.DataFrame([{"mode": "training" if r.training else "inference",
                          "budget_bytes": r.budget_bytes, "largest_batch": r.batch,
                          "peak_bytes": r.peak_bytes,
                          "peak_bytes_at_batch_plus_1": r.next_peak_bytes,
                          "parameter_bytes": r.static_bytes, "probes": r.probes}
                         for r in results])


@click.command("memory")
@click.argument("model")
@click.option("--train", is_flag=True, help="A training step: forward, loss, backward, "
                                            "optimizer step (default: inference).")
@click.option("--optimizer", default="adam", show_default=True,
              help=f"With --train: {' | '.join(OPTIMIZERS)}.")
@click.option("--batch", default=1, show_default=True, type=int, help="Batch size N.")
@click.option("--input", "input_", default=None, help="C x H x W (default: the model's own).")
@click.option("--dtype", default="fp32", show_default=True,
              help=f"{' | '.join(DTYPES)} (amp: fp32 parameters, fp16 autocast).")
@click.option("--step", default="steady", show_default=True,
              help=f"{' | '.join(STEPS)}. steady: optimizer state exists already (every "
                   "step after the first); first: created inside this step.")
@click.option("--rounding", is_flag=True,
              help="Round every allocation up to 512 bytes like the CUDA caching allocator.")
@click.option("--fit", "fit_", default=None,
              help="A memory size (16GiB, 24GB, 512MiB): print the largest batch that fits, "
                   "for inference and for training.")
@click.option("--depth", default=1, show_default=True, type=int,
              help="Module rows down to this depth (csv/json carry all).")
@click.option("--timeline", is_flag=True,
              help="csv/json: the per-op timeline instead of the module rows.")
@click.option("--plots", "plots_dir", default=None,
              help="Also write the timeline and module bar plots (PNG) into this folder.")
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
def memory_cmd(model, train, optimizer, batch, input_, dtype, step, rounding, fit_, depth,
               timeline, plots_dir, budget, plan_, save_plan, checkpoint, fmt, output):
    """Predicted memory (bytes) of MODEL: the peak and when it happens, the peak split
    into parameters, buffers, gradients, optimizer state, activations saved for backward
    and transient tensors, per-module rows, and the live bytes after every op.  Tracked
    storage by storage on the meta device; nothing is allocated for real.

    MODEL: a variant name (see `inception-cost variants`), torchvision:NAME, timm:NAME,
    or path/to/file.py:factory."""
    dtype, optimizer, step = dtype.strip().lower(), optimizer.strip().lower(), step.lower()
    if batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    check_options(dtype, optimizer, step, batch)
    if depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    wrapped = None
    if plan_ or budget is not None or save_plan or checkpoint is not None:
        from .checkpoint_cli import memory_checkpointing
        wrapped = memory_checkpointing(model, train, optimizer, batch, input_, dtype, step,
                                       rounding, fit_, budget, plan_, save_plan, checkpoint,
                                       fmt, output)
        if wrapped is None:
            return
    budget = parse_size(fit_) if fit_ is not None else None
    module, default_size, label = resolve_model(model)
    module = wrapped if wrapped is not None else module
    chw = parse_chw(input_) if input_ else default_size
    if budget is not None:
        results = [fit_batch(module, budget, chw, training=t, optimizer=optimizer, dtype=dtype,
                             allocator_rounding=rounding, step=step) for t in (False, True)]
        df = fit_table(results)
        if fmt == "csv":
            text = to_csv(df)
        elif fmt == "json":
            text = json.dumps(df.to_dict(orient="records"), indent=2) + "\n"
        else:
            shown = _human(df, ("budget_bytes", "peak_bytes", "peak_bytes_at_batch_plus_1",
                                "parameter_bytes"))
            text = render(shown, fmt, title=f"{label} {'x'.join(map(str, chw))} {dtype}: "
                                            f"largest batch in {human_bytes(budget)}",
                          notes=[f"training = forward + loss + backward + {optimizer} step "
                                 f"({step} state); bytes "
                                 + ("rounded to 512-byte blocks" if rounding else "exact")])
        write_output(text, output)
        return
    report = memory(module, chw, batch=batch, training=train, optimizer=optimizer,
                    dtype=dtype, allocator_rounding=rounding, step=step, name=label)
    if plots_dir:
        from ..memory_analysis.plots import module_bars, timeline_plot
        tag = f"{label.replace(':', '_').replace('/', '_')}_b{batch}_{'train' if train else 'inference'}"
        timeline_plot(report, os.path.join(plots_dir, f"{tag}_memory_timeline.png"))
        module_bars(report, os.path.join(plots_dir, f"{tag}_memory_modules.png"), depth=max(depth, 1))
    if fmt == "csv":
        write_output(to_csv(report.timeline if timeline else report.modules), output)
        return
    if fmt == "json":
        data = report.to_dict()
        if timeline:
            data["timeline"] = json.loads(report.timeline.to_json(orient="records"))
        write_output(json.dumps(data, indent=2) + "\n", output)
        return
    summary = report.summary()
    summary.insert(2, "size", summary["bytes"].map(human_bytes))
    what = (f"training step ({optimizer}, {step} optimizer state)" if train else "inference")
    notes = [f"bytes: {'rounded up to 512-byte blocks per allocation (CUDA caching allocator)' if rounding else 'exact (dtype size x elements), no allocator rounding'}; "
             "peak = most bytes alive after any op"]
    notes += [f"{k}: {v}" for k, v in DESCRIPTIONS.items()]
    parts = [render(summary, fmt, title=f"{label} @ {batch}x{'x'.join(map(str, chw))} {dtype}: "
                                        f"{what}", notes=notes)]
    mods = _human(modules_table(report, depth), BYTE_COLUMNS)
    parts.append(render(mods, fmt, title=f"per module (depth <= {depth}; each row includes "
                                          "its submodules)",
                        notes=["output: bytes its forward ops allocated; saved: activation "
                               "bytes first saved for backward while it ran; live: most "
                               "bytes alive after any of its ops"]))
    write_output("\n".join(parts), output)
