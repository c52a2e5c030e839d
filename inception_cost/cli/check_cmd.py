"""``inception-cost check``: fail CI when any layer's count drifts from the baseline."""
from __future__ import annotations

import json
import os

import click
import pandas as pd

from ..counting import count
from ..counting.engine import ForwardError
from ..errors import UsageError
from ..models.registry import get_variant, variants
from ..models.resolve import resolve_model
from ..report.baseline import (BaselineError, baseline_path, diff_layers, layers_csv, layers_frame,
                               read_baseline)
from ..report.render import render
from ..report.training_reports import gate_training, training_gate_on
from ..report.units import human
from .options import parse_chw


def _targets(variant_list, model_spec, input_, name):
    if model_spec:
        module, size, label = resolve_model(model_spec)
        chw = parse_chw(input_) if input_ else size
        return [(name or label, module, chw)]
    names = [v.strip() for v in variant_list.split(",") if v.strip()] if variant_list else \
        [v.name for v in variants()]
    out = []
    for n in names:
        info = get_variant(n)
        out.append((n, None, parse_chw(input_) if input_ else info.input_size))
    return out


def _count(name, module, chw):
    if module is None:
        module, _, _ = resolve_model(name)
    try:
        return count(module, (1, *chw), name=name)
    except ForwardError as e:
        raise UsageError(str(e)) from None


def _fmt_change(c) -> dict:
    def pair(col):
        o, n = c.old.get(col, ""), c.new.get(col, "")
        return f"{o} → {n}" if c.kind == "changed" else (n if c.kind == "added" else o)
    return {"change": c.kind, "module": c.module, "op": c.op, "params": pair("params"),
            "macs": pair("macs"), "out_shape": pair("out_shape")}


@click.command("check")
@click.option("--baseline", default="reports", show_default=True, help="Folder holding layers/<name>.csv.")
@click.option("--variants", "variant_list", default=None, help="Comma-separated variants (default: all).")
@click.option("--model", "model_spec", default=None, help="Your own model: pkg.mod:factory or file.py:factory.")
@click.option("--input", "input_", default=None, help="C x H x W (default: the model's own).")
@click.option("--name", default=None, help="Baseline name for --model (default: derived from the spec).")
@click.option("--update", is_flag=True, help="Rewrite the baselines with the current counts.")
@click.option("--format", "fmt", type=click.Choice(["rich", "json"]), default="rich", show_default=True)
@click.option("--train/--no-train", "train", default=None,
              help="Also gate training-step counts (<baseline>/training/; default: when that folder exists).")
def check_cmd(baseline, variant_list, model_spec, input_, name, update, fmt, train):
    """Recompute per-layer counts and compare with the committed CSVs.

    Exit 0 identical, 1 any layer changed/added/removed, 2 missing/corrupt baseline."""
    if not update and not os.path.isdir(baseline):
        raise BaselineError(f"baseline folder '{baseline}' does not exist")
    results, problems = [], []
    for vname, module, chw in _targets(variant_list, model_spec, input_, name):
        report = _count(vname, module, chw)
        if training_gate_on(train, baseline):
            gate_training(baseline, vname, module, chw, update, results, problems, click.echo)
        path = baseline_path(baseline, vname)
        if update:
            old = read_baseline(path) if os.path.exists(path) else None
            d = diff_layers(vname, old, layers_frame(report)) if old is not None else None
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8", newline="") as fh:
                    fh.write(layers_csv(report))
            except OSError as e:
                raise UsageError(f"cannot write baseline {path}: {e.strerror or e}") from None
            state = "created" if d is None else ("unchanged" if d.identical else
                                                f"updated ({len(d.changes)} layer changes)")
            click.echo(f"{vname}: {state} {path}")
            continue
        try:
            old = read_baseline(path)
        except BaselineError as e:
            problems.append(str(e))
            continue
        results.append(diff_layers(vname, old, layers_frame(report)))
    if update:
        return
    if fmt == "json":
        payload = {"status": "error" if problems else
                   ("changed" if any(not d.identical for d in results) else "identical"),
                   "errors": problems,
                   "variants": [{"variant": d.name, "identical": d.identical,
                                 "delta": {c: d.delta(c) for c in ("params", "macs", "flops")},
                                 "changes": [{"change": c.kind, "module": c.module, "op": c.op,
                                              "old": {k: c.old.get(k) for k in ("params", "macs", "out_shape")},
                                              "new": {k: c.new.get(k) for k in ("params", "macs", "out_shape")}}
                                             for c in d.changes]} for d in results]}
        click.echo(json.dumps(payload, indent=2, default=int))
    if problems:
        raise BaselineError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    changed = [d for d in results if not d.identical]
    if fmt == "rich":
        for d in changed:
            table = pd.DataFrame([_fmt_change(c) for c in d.changes])
            click.echo(render(table, "rich", title=f"{d.name}: {len(d.changes)} layer(s) changed"), nl=False)
            click.echo(f"{d.name} total: params {d.delta('params'):+,} ({human(d.new_totals['params'], 'params')}), "
                       f"MACs {d.delta('macs'):+,} ({human(d.new_totals['macs'], 'MACs')}), "
                       f"FLOPs {d.delta('flops'):+,}")
        if changed:
            click.echo(f"check failed: {len(changed)} of {len(results)} variant(s) drifted from {baseline}", err=True)
        else:
            click.echo(f"check passed: {len(results)} variant(s) identical to {baseline}")
    click.get_current_context().exit(1 if changed else 0)
