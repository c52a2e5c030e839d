"""``inception-cost check``: fail CI when any layer's count drifts from the baseline."""
from __future__ import annotations

import json
import os

import click
import pandas as pd

from .. import streams
from ..counting import count
from ..counting.engine import ForwardError
from ..errors import UsageError
from ..models.registry import get_variant, variants
from ..models.resolve import resolve_model
from ..report.baseline import (BaselineError, baseline_path, check_unique, diff_layers,
                               layers_frame, legacy_name, name_of, orphan_baselines,
                               read_baseline, write_baseline)
from ..report.json_object import call_inputs, input_entry, json_object, rows_of
from ..report.render import render, to_csv, write_output
from ..regeneration.training_gate import gate_training
from ..report.training_reports import DRIFT_COLUMNS, TRAINING_DIR, TrainingDiff, training_gate_on
from ..units import human
from .input_option import batch_for, make_call, parse_input
from .options import INPUT_HELP, format_option, output_option


def model_name(spec: str) -> str:
    """The baseline name of a --model spec: the model, not where its file lies
    ('ci/nets.py:build' and './nets.py:build' are both 'nets.build';
    'mypkg.nets:build' is 'mypkg.nets.build')."""
    target, _, factory = spec.rpartition(":")
    if target.endswith(".py") or os.sep in target or "/" in target:
        target = os.path.splitext(os.path.basename(target))[0]
    return f"{target}.{factory}" if target else spec


def _targets(variant_list, model_spec, specs, name):
    """[(baseline name, module or None (a zoo variant, built when counted), its own
    C x H x W)]; ``specs`` (the parsed --input, read before anything is counted or
    written) replace that size for every target."""
    if model_spec:
        if variant_list is not None:
            raise UsageError("give --model or --variants, not both")
        module, size, label = resolve_model(model_spec)
        return [(name or model_name(model_spec), module, size)]
    if variant_list is not None:
        names = list(dict.fromkeys(v.strip() for v in variant_list.split(",") if v.strip()))
        if not names:
            raise UsageError(f"--variants names no variant (got '{variant_list}'); give "
                             "comma-separated names, or leave --variants out to check them all")
    else:
        names = [v.name for v in variants()]
    out = []
    for n in names:
        info = get_variant(n)
        out.append((n, None, info.input_size))
    return out


class _Counted:
    """One target's inference count, the inputs it ran on (for ``--format json``),
    the module its training step counts (None: the training gate builds the variant with
    its training-only heads) and, with --input, the training step's inputs (the batch of
    ``reports/training/`` unless the shapes carry one)."""

    def __init__(self, name, module, chw, specs):
        self.train_module = module
        if module is None:
            module, _, _ = resolve_model(name)
            if not get_variant(name).training_heads:
                # the training step's build is this one (no training-only heads to switch
                # on): count both on one module (neither count changes it)
                self.train_module = module
        self.train_inputs = None
        try:
            if specs:
                call = make_call(specs, module, None, "meta")    # batch 1 unless carried
                self.input = call_inputs(call)
                self.report = count(module, inputs=call.inputs, name=name)
                self.train_inputs = make_call(specs, module, batch_for(None, specs, module, True),
                                              "meta").inputs
            else:
                self.input = [input_entry(None, (1, *chw))]
                self.report = count(module, (1, *chw), name=name)
        except ForwardError as e:
            raise UsageError(f"{e} (inputs: {', '.join(_shown(i) for i in self.input)})"
                             if specs else str(e)) from None


def _shown(entry: dict) -> str:
    return (f"{entry['name']}=" if entry["name"] else "") + "x".join(map(str, entry["shape"]))

def _fmt_change(c) -> dict:
    def pair(col):
        o, n = c.old.get(col, ""), c.new.get(col, "")
        return f"{o} → {n}" if c.kind == "changed" else (n if c.kind == "added" else o)
    return {"change": c.kind, "module": c.module, "op": c.op, "params": pair("params"),
            "macs": pair("macs"), "out_shape": pair("out_shape")}


def _json_variant(d) -> dict:
    """One variant's diff for --format json; a training diff carries every count column
    (old, new, and the list of drifted ones)."""
    keys = ("params", "macs", "out_shape", "bytes")
    delta = {c: d.delta(c) for c in ("params", "macs", "flops", "bytes") if c in d.old_totals}
    if isinstance(d, TrainingDiff):
        keys = ("params", "macs", "out_shape", *DRIFT_COLUMNS)
        delta.update(d.column_deltas())
    changes = []
    for c in d.changes:
        row = {"change": c.kind, "module": c.module, "op": c.op,
               "old": {k: c.old.get(k) for k in keys}, "new": {k: c.new.get(k) for k in keys}}
        if isinstance(d, TrainingDiff):
            row["drifted"] = d.drifted(c)
        changes.append(row)
    return {"variant": d.name, "identical": d.identical, "delta": delta, "changes": changes}


def check_json(results, problems, orphans, changed, inputs: dict) -> str:
    """{model (the checked names), input (the one target's inputs; null for several),
    convention, status, errors, orphan_baselines, variants, totals (how many diffs were
    identical, drifted, ...), rows (one per change, as --format csv)}."""
    names = list(inputs)
    totals = {"checked": len(results), "identical": len(results) - len(changed),
              "drifted": len(changed), "errors": len(problems), "orphan_baselines": len(orphans),
              "changes": sum(len(d.changes) for d in results)}
    status = "error" if problems else ("changed" if changed or orphans else "identical")
    obj = json_object(names, inputs[names[0]] if len(names) == 1 else None, totals,
                      rows_of(changes_frame(results, orphans)), convention="native",
                      status=status, errors=problems, orphan_baselines=orphans,
                      variants=[_json_variant(d) for d in results])
    return json.dumps(obj, indent=2, default=int) + "\n"


def _drift_cell(d, c) -> str:
    """'fwd_flops: 100 -> 101; ...' for a training change ('' for a layers change)."""
    if not isinstance(d, TrainingDiff):
        return ""
    return "; ".join(f"{col}: {c.old.get(col, '')} -> {c.new.get(col, '')}" for col in d.drifted(c))


def changes_frame(results, orphans) -> pd.DataFrame:
    """Every change as one row with exact old/new values (csv), orphans included."""
    cols = ["variant", "change", "module", "op"] + [f"{w}_{c}" for c in
                                                     ("params", "macs", "flops", "out_shape")
                                                     for w in ("old", "new")] + ["drifted"]
    rows = []
    for d in results:
        for c in d.changes:
            row = {"variant": d.name, "change": c.kind, "module": c.module, "op": c.op}
            for col in ("params", "macs", "flops", "out_shape"):
                row[f"old_{col}"], row[f"new_{col}"] = c.old.get(col, ""), c.new.get(col, "")
            row["drifted"] = _drift_cell(d, c)
            rows.append(row)
    for path in orphans:
        rows.append({"variant": name_of(os.path.basename(path)[:-4]),
                     "change": "orphan baseline", "module": path})
    return pd.DataFrame(rows, columns=cols, dtype=object).fillna("")


def _orphan_line(path: str) -> str:
    return (f"orphan baseline {path}: no variant of that name any more (delete the file, "
            "or run `inception-cost check --update` to remove it)")


def _orphans(baseline, names, train: bool) -> list[str]:
    """Baseline files of no checked name: layers/, and training/ when that gate is on."""
    return orphan_baselines(baseline, names) + (
        orphan_baselines(baseline, names, TRAINING_DIR) if train else [])


def _missing_hint(baseline, vname, path) -> str:
    """For a missing baseline: the file an older version named by ``legacy_name``."""
    old = os.path.join(baseline, "layers", f"{legacy_name(vname)}.csv")
    if old != path and os.path.exists(old) and not os.path.exists(path):
        return (f"; {old} may be its baseline under the older file name (names now map to "
                f"one file each): rename it to {os.path.basename(path)}")
    return ""


def _update(targets, baseline, full, train: bool, specs) -> None:
    for vname, module, chw in targets:
        counted = _Counted(vname, module, chw, specs)
        report = counted.report
        if train:
            gate_training(baseline, vname, counted.train_module, chw, True, [], [], streams.echo,
                          inputs=counted.train_inputs)
        path = baseline_path(baseline, vname)
        state = "created"
        if os.path.exists(path):
            try:
                d = diff_layers(vname, read_baseline(path), layers_frame(report))
                state = "unchanged" if d.identical else f"updated ({len(d.changes)} layer changes)"
            except BaselineError as e:
                state = f"repaired (it was unusable: {str(e).replace(path + ' ', '')})"
        write_baseline(path, report)
        streams.echo(f"{vname}: {state} {path}")
    if full:
        for path in _orphans(baseline, [t[0] for t in targets], train):
            try:
                os.remove(path)
            except OSError as e:
                raise UsageError(f"cannot remove orphan baseline {path}: {e.strerror or e}") from None
            streams.echo(f"removed orphan baseline {path} (no variant of that name)")


@click.command("check")
@click.option("--baseline", default="reports", show_default=True, help="Folder holding layers/<name>.csv.")
@click.option("--variants", "variant_list", default=None, help="Comma-separated variants (default: all).")
@click.option("--model", "model_spec", default=None, help="Your own model: pkg.mod:factory or file.py:factory.")
@click.option("--input", "input_", multiple=True,
              help=INPUT_HELP + " The gate compares per-layer shapes and counts: a baseline "
                   "made with other inputs shows as drift.")
@click.option("--name", default=None, help="Baseline name for --model (default: the file or module name and the "
                   "factory, e.g. nets.build, wherever the file lies).")
@click.option("--update", is_flag=True, help="Rewrite the baselines with the current counts "
              "(repairs corrupt ones; with all variants, removes orphan baselines).")
@click.option("--train/--no-train", "train", default=None,
              help="Also gate training-step counts (<baseline>/training/; default: when that folder exists).")
@format_option()
@output_option()
def check_cmd(baseline, variant_list, model_spec, input_, name, update, train, fmt, output):
    """Recompute per-layer counts and compare with the committed CSVs.

    Exit 0 identical; 1 any layer changed/added/removed, or (checking all
    variants) a baseline file whose variant no longer exists; 2 missing or
    corrupt baseline, or bad input."""
    specs = [parse_input(t) for t in input_]      # bad input: exit 2 before any file is written
    targets = _targets(variant_list, model_spec, specs, name)
    full = variant_list is None and not model_spec
    names = [t[0] for t in targets]
    gate_train = training_gate_on(train, baseline)
    check_unique(baseline, "layers", names)
    if gate_train:
        check_unique(baseline, TRAINING_DIR, names)
    if update:
        _update(targets, baseline, full, gate_train, specs)
        return
    if not os.path.isdir(baseline):
        raise BaselineError(f"baseline folder '{baseline}' does not exist")
    results, problems, inputs = [], [], {}
    for vname, module, chw in targets:
        counted = _Counted(vname, module, chw, specs)
        report, inputs[vname] = counted.report, counted.input
        if gate_train:
            gate_training(baseline, vname, counted.train_module, chw, False, results, problems,
                          streams.echo, inputs=counted.train_inputs)
        path = baseline_path(baseline, vname)
        try:
            old = read_baseline(path)
        except BaselineError as e:
            problems.append(str(e) + _missing_hint(baseline, vname, path))
            continue
        results.append(diff_layers(vname, old, layers_frame(report)))
    orphans = _orphans(baseline, names, gate_train) if full else []
    changed = [d for d in results if not d.identical]
    if fmt == "json":
        write_output(check_json(results, problems, orphans, changed, inputs), output)
    elif fmt == "csv" and not problems:
        write_output(to_csv(changes_frame(results, orphans)), output)
    if problems:
        raise BaselineError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    if fmt in ("rich", "md"):
        parts = []
        for d in changed:
            if isinstance(d, TrainingDiff):     # every drifted column, old and new
                parts.append(render(d.change_table(), fmt, notes=[d.totals_line()],
                                    title=f"{d.name}: {len(d.changes)} layer(s) changed"))
                continue
            table = pd.DataFrame([_fmt_change(c) for c in d.changes])
            totals = (f"{d.name} total: params {d.delta('params'):+,} "
                      f"({human(d.new_totals['params'], 'params')}), MACs {d.delta('macs'):+,} "
                      f"({human(d.new_totals['macs'], 'MACs')}), FLOPs {d.delta('flops'):+,}"
                      + (f", bytes {d.delta('bytes'):+,}" if "bytes" in d.old_totals else ""))
            parts.append(render(table, fmt, title=f"{d.name}: {len(d.changes)} layer(s) changed",
                                notes=[totals]))
        parts += [_orphan_line(p) + "\n" for p in orphans]
        if changed or orphans:
            if parts:
                write_output("\n".join(parts), output)
            what = [f"{len(changed)} of {len(results)} variant(s) drifted"] if changed else []
            what += [f"{len(orphans)} orphan baseline(s)"] if orphans else []
            click.echo(f"check failed: {' and '.join(what)} in {baseline}", err=True)
        else:
            line = f"check passed: {len(results)} variant(s) identical to {baseline}\n"
            if output:
                write_output(line, output)
            if output:
                click.echo(line, nl=False, err=True)
            else:
                streams.write(line)
    click.get_current_context().exit(1 if changed or orphans else 0)
