"""One training step of each zoo variant, counted for ``reports/training/`` and for
``check``'s training gate: a change that alters forward, backward or optimizer cost (MACs,
FLOPs) of any layer fails CI. The CSV, baseline reader and diff it uses are the presenters'
(:mod:`inception_cost.report.training_reports`)."""
from __future__ import annotations

import os

from ..atomic import write_text
from ..counting.training import COUNTS, TrainingReport, count_training, count_training_each
from ..errors import UsageError
from ..models.registry import build, get_variant
from ..report.baseline import MAX_COUNT, BaselineError
from ..report.training_reports import (REPORT_BATCH, REPORT_OPTIMIZER, diff_training,
                                       read_training_baseline, training_csv, training_path)


def variant_step_reports(name: str, optimizers, **options) -> list[TrainingReport]:
    """Training steps of zoo variant ``name`` built with ``options`` (e.g. ``aux=True``), at
    ``REPORT_BATCH`` x its default input: one report per optimizer, the forward and backward
    counted once for all (:func:`~inception_cost.counting.training.count_training_each`)."""
    return count_training_each(build(name, **options),
                               (REPORT_BATCH, *get_variant(name).input_size),
                               optimizers=list(optimizers), name=name)


def variant_training_report(name: str, module=None, chw=None, inputs=None) -> TrainingReport:
    """One step of a zoo variant (auxiliary heads on where it has them), or of ``module``:
    at ``REPORT_BATCH`` x ``chw``, or on ``inputs`` (tensors, as ``count_training`` takes
    them) when given."""
    if module is None and chw is None and inputs is None:
        return variant_step_reports(name, [REPORT_OPTIMIZER],
                                    **get_variant(name).training_heads)[0]
    if module is None:
        info = get_variant(name)
        module = build(name, **info.training_heads)
        chw = chw or info.input_size
    if inputs is not None:
        return count_training(module, inputs=inputs, optimizer=REPORT_OPTIMIZER, name=name)
    return count_training(module, (REPORT_BATCH, *chw), optimizer=REPORT_OPTIMIZER, name=name)


def _check_writable(report: TrainingReport, name: str) -> None:
    """A baseline must be readable back: every count within 0..2^63-1 (else a
    UsageError, exit 2, that ``--update`` does not swallow)."""
    for c in COUNTS:
        big = [v for v in report.layers[c] if int(v) > MAX_COUNT]
        if big:
            raise UsageError(f"cannot write the training baseline of {name}: a '{c}' count "
                                f"({int(big[0]):,}) exceeds 2^63-1, the largest a baseline holds; "
                                "gate a smaller input")


def check_training(root: str, name: str, module=None, chw=None, update: bool = False,
                   inputs=None):
    """(VariantDiff or None, message or None). ``update`` rewrites the baseline
    atomically and returns a one-line message; a missing/corrupt baseline raises
    :class:`BaselineError`."""
    rep = variant_training_report(name, module, chw, inputs)
    path = training_path(root, name)
    if update:
        state = "created"
        if os.path.exists(path):
            try:
                d = diff_training(name, read_training_baseline(path), rep)
                state = "unchanged" if d.identical else f"updated ({len(d.changes)} layer changes)"
            except BaselineError:
                state = "repaired (it was unusable)"
        _check_writable(rep, name)
        write_text(path, training_csv(rep), what="training baseline", make_dirs=True)
        return None, f"{name} (training): {state} {path}"
    return diff_training(name, read_training_baseline(path), rep), None


def gate_training(root: str, name: str, module, chw, update: bool, results: list, problems: list,
                  echo, inputs=None) -> None:
    """The ``check`` hook: adds this variant's training diff to ``results`` (or its
    baseline problem to ``problems``; with ``update``, echoes what was written).
    ``inputs``: the step's tensors (``check --input``) instead of ``chw``."""
    try:
        diff, message = check_training(root, name, module, chw, update, inputs)
    except BaselineError as e:
        problems.append(str(e))
        return
    except OSError as e:
        raise UsageError(f"cannot write training baseline for {name}: {e.strerror or e}") from None
    if message:
        echo(message)
    if diff is not None:
        results.append(diff)
