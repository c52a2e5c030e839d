"""One spelling per option across commands; older spellings still work, with a note.

The options themselves (and their defaults: batch 1 for inference, 32 for a training
step; optimizer ``sgd_momentum``) are defined once, in :mod:`inception_cost.cli.options`.
Optimizers: ``none``, ``sgd``, ``sgd_momentum``, ``sgd_nesterov``, ``adam``, ``adamw``
(``memory`` also ``rmsprop``, ``adagrad``). ``momentum`` (the old ``memory``
spelling) means ``sgd_momentum``. Batch: ``--batch`` everywhere (``profile
--batch-size`` still works). Input: ``--input``; dtype: ``--dtype``; output:
``--format`` and ``--output``.
"""
from __future__ import annotations

import click

from ..counting.step_program import OLD_OPTIMIZER_NAMES as OLD_OPTIMIZERS


def note(old: str, new: str) -> None:
    click.echo(f"note: {old} is now spelled {new} (the old spelling still works)", err=True)


def optimizer_name(text: str | None) -> str | None:
    """The optimizer's name in the shared vocabulary (lower case, old spellings mapped)."""
    if text is None:
        return None
    name = text.strip().lower()
    if name in OLD_OPTIMIZERS:
        note(f"--optimizer {name}", f"--optimizer {OLD_OPTIMIZERS[name]}")
        return OLD_OPTIMIZERS[name]
    return name
