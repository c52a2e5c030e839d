"""The command-line side of checkpoint planning: ``memory --train --budget SIZE --plan``,
``memory --fit SIZE --checkpoint auto`` and ``train --checkpoint PLAN.json`` (tables only;
the work is in ``inception_cost.checkpointing``)."""
from __future__ import annotations

import pandas as pd

from ..report.render import render, to_csv
from ..units import human_bytes


def _h(v) -> str:
    if v is None or v != v:      # no batch fits: no peak (None, or NaN in a frame)
        return "-"
    return human_bytes(v) if v else "0"


def shown_optimizer(name: str) -> str:
    """The optimizer as every command spells it ('sgd_momentum', not the memory
    model's 'momentum')."""
    from ..counting.step_program import OLD_OPTIMIZER_NAMES
    return OLD_OPTIMIZER_NAMES.get(name, name)


def plan_text(result, fmt: str) -> str:
    """The plan: summary, candidate rows and the trade-off curve."""
    if fmt == "json":
        from ..memory_analysis.step_config import DTYPES
        from ..report.json_object import dumps, input_entry, with_envelope
        data = result.to_dict()
        totals = {k: data[k] for k in ("peak_bytes", "baseline_peak_bytes", "static_bytes",
                                       "recompute_macs", "recompute_flops", "step_macs",
                                       "step_flops")}
        return dumps(with_envelope(
            data, [input_entry(None, (result.batch, *result.input_size),
                               DTYPES.get(result.dtype, result.dtype))],
            totals, data["candidates"]))     # rows: the candidates ("candidates" kept)
    if fmt == "csv":
        return to_csv(result.candidates)
    summary = result.summary()
    summary["value"] = [(_h(v) if "MACs" not in n and "FLOPs" not in n and w not in
                         ("modules checkpointed",) else f"{v:,}")
                        for w, v, n in zip(summary["what"], summary["value"], summary["note"])]
    title = (f"{result.model} @ {result.batch}x{'x'.join(map(str, result.input_size))} "
             f"{result.dtype}, {shown_optimizer(result.optimizer)}: checkpointing plan for "
             f"{human_bytes(result.budget_bytes)}")
    notes = [f"plan ({result.method}): {', '.join(result.modules) or '(none)'}"]
    if result.method_note:
        notes.append(result.method_note)
    via = ("" if result.model_peak_bytes is None
           else "; the peaks compared in between from the peak model")
    notes.append(f"{result.analyses} memory analyses{via}, {result.seconds:.1f} s")
    if result.candidates.empty:     # only layers at the top: nothing worth a recompute
        notes.append(f"{result.model} has no candidate module (a block of two layers or "
                     "more below the top): nothing to checkpoint")
        return render(summary, fmt, title=title, notes=notes)
    parts = [render(summary, fmt, title=title, notes=notes)]
    cand = result.candidates.copy()
    for c in ("saved_bytes", "bytes_saved"):
        cand[c] = cand[c].map(_h)
    cand = cand.drop(columns=["recompute_flops", "type"])
    parts.append(render(cand, fmt, title="candidates",
                        notes=["saved_bytes: activations saved for backward while it ran, "
                               "without checkpointing; bytes_saved: of those, what the plan "
                               "frees; recompute in MACs"]))
    curve = result.curve.copy()
    curve["peak_bytes"] = curve["peak_bytes"].map(_h)
    curve = curve.drop(columns=["recompute_flops"])
    parts.append(render(curve, fmt, title="trade-off: peak vs recompute (greedy order)",
                        notes=["each row adds one module to the row above; recompute in "
                               "MACs; analysed: the peak is an exact memory analysis (else "
                               "the peak model's)"]))
    return "\n".join(parts)


def fit_checkpoint_table(without, with_batch: int, with_peak: int, plan) -> pd.DataFrame:
    """Largest batch without checkpointing beside the largest with it."""
    return pd.DataFrame([
        {"checkpointing": "none", "largest_batch": without.batch,
         "peak_bytes": without.peak_bytes, "recompute_macs": 0, "modules": ""},
        {"checkpointing": "auto", "largest_batch": with_batch,
         "peak_bytes": plan.peak_bytes if plan is not None else with_peak,
         "recompute_macs": plan.recompute_macs if plan is not None else 0,
         "modules": " ".join(plan.modules) if plan is not None else ""},
    ], dtype=object)   # exact ints, None where no batch fits


def memory_checkpointing(model, train, optimizer, batch, input_, dtype, step, rounding,
                         fit_, budget, plan_, save_plan, checkpoint, fmt, output,
                         reserve="5%"):
    """``memory`` with checkpointing options.  Prints and returns None, or returns the
    model wrapped by ``--checkpoint PLAN.json`` for the usual memory report."""
    from ..checkpointing.apply import apply_checkpointing
    from ..checkpointing.plan_file import load_plan, save_plan as write_plan
    from ..checkpointing.planner import checkpoint_plan, fit_with_checkpointing
    from ..errors import UsageError
    from ..memory_analysis.api import fit_batch
    from ..memory_analysis.sizes import parse_size
    from ..models.resolve import resolve_model, resolve_training_model
    from ..report.render import write_output
    from .options import parse_chw

    if checkpoint is not None and checkpoint != "auto" and not (plan_ or budget or fit_):
        module, _size, _label = resolve_training_model(model) if train else resolve_model(model)
        return apply_checkpointing(module, load_plan(checkpoint))
    if checkpoint == "auto":
        if fit_ is None:
            raise UsageError("--checkpoint auto needs --fit SIZE")
        size = parse_size(fit_)
        module, default_size, label = resolve_training_model(model)
        chw = parse_chw(input_) if input_ else default_size
        without = fit_batch(module, size, chw, training=True, optimizer=optimizer,
                            dtype=dtype, allocator_rounding=rounding, step=step,
                            reserve=reserve)
        best, peak, plan = fit_with_checkpointing(module, size, chw, optimizer=optimizer,
                                                  dtype=dtype, step=step,
                                                  allocator_rounding=rounding,
                                                  reserve=reserve)
        if best == 0:
            raise UsageError(f"--fit {human_bytes(size)} (less the reserve, {reserve}) holds no "
                             "training batch, even with every candidate module checkpointed: "
                             f"batch 1 needs {human_bytes(peak)} ({peak:,} bytes)"
                             if peak else f"--fit {human_bytes(size)} holds no training batch")
        df = fit_checkpoint_table(without, best, peak, plan)
        if fmt == "json":
            from ..memory_analysis.step_config import DTYPES
            from ..report.json_object import dumps, input_entry, json_object, rows_of
            text = dumps(json_object(
                label, [input_entry(None, chw, DTYPES.get(dtype, dtype))],
                {"largest_batch": best, "largest_batch_without_checkpointing": without.batch},
                rows_of(df), budget_bytes=size, reserve=reserve, dtype=dtype,
                optimizer=optimizer, step=step, rounding=rounding))
        elif fmt == "csv":
            text = to_csv(df)
        else:
            shown = df.copy()
            shown["peak_bytes"] = shown["peak_bytes"].map(_h)
            shown["modules"] = shown["modules"].map(lambda s: f"{len(s.split())} modules"
                                                    if s else "-")
            notes = [f"training step ({shown_optimizer(optimizer)}, {step}); auto: largest batch at which "
                     "checkpointing every candidate fits, with the least-recompute plan at "
                     f"that batch; both keep the reserve ({reserve}) free"]
            if plan is not None:
                notes.append(f"plan ({plan.method}): {', '.join(plan.modules) or '(none)'}")
            text = render(shown, fmt, title=f"{label} {'x'.join(map(str, chw))} {dtype}: "
                                            f"largest training batch in {human_bytes(size)}",
                          notes=notes)
        if save_plan and plan is not None:
            write_plan(plan, save_plan)
        write_output(text, output)
        return None
    if checkpoint is not None:
        raise UsageError("--checkpoint PLAN.json analyses a given plan; it does not combine "
                         "with --plan, --budget or --fit (use --checkpoint auto with --fit)")
    if not (plan_ and budget is not None and train):
        raise UsageError("planning needs all of --train, --budget SIZE and --plan")
    if fit_ is not None:
        raise UsageError("--plan does not combine with --fit (use --fit SIZE --checkpoint auto)")
    size = parse_size(budget, "--budget")
    module, default_size, label = resolve_training_model(model)
    chw = parse_chw(input_) if input_ else default_size
    result = checkpoint_plan(module, chw, budget=size, batch=batch, optimizer=optimizer,
                             dtype=dtype, step=step, allocator_rounding=rounding, name=label)
    if save_plan:
        write_plan(result, save_plan)
    write_output(plan_text(result, fmt), output)
    return None


def train_phases(module, inputs, optimizer, freeze, plain, plan_path: str) -> pd.DataFrame:
    """``train --checkpoint PLAN.json``: the step's MACs/FLOPs by phase - forward,
    recompute (forward work run again inside backward), backward, optimizer.  The
    recompute is counted: the step of the wrapped model minus the step without it (the
    forward and optimizer are identical; the difference is all inside backward)."""
    from ..checkpointing.apply import apply_checkpointing
    from ..checkpointing.plan_file import load_plan
    from ..counting.placement import copy_on
    from ..counting.training import count_training
    meta = copy_on(module, "meta")
    wrapped = count_training(apply_checkpointing(meta, load_plan(plan_path)), inputs=inputs,
                             optimizer=optimizer, freeze=freeze)
    a, b = plain.totals(), wrapped.totals()
    rows = [("forward", a["fwd_macs"], a["fwd_flops"]),
            ("recompute", b["bwd_macs"] - a["bwd_macs"], b["bwd_flops"] - a["bwd_flops"]),
            ("backward", a["bwd_macs"], a["bwd_flops"]),
            ("optimizer", 0, a["opt_flops"]),
            ("step", b["step_macs"], b["step_flops"])]
    return pd.DataFrame(rows, columns=["phase", "macs", "flops"])
