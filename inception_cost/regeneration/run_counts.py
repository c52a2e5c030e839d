"""The counts one ``inception-cost report`` run shares between its artifacts: each zoo
variant's training step (batch ``REPORT_BATCH``) is counted once per run, whichever tables
and files read it.

An explicit object made by the run and passed down (never a module-level cache): a new run,
or a count with other formulas, starts from nothing, so no count outlives the run that made
it."""
from __future__ import annotations

from typing import Sequence

from ..counting.training import TrainingReport
from ..report.training_reports import REPORT_OPTIMIZER
from .training_gate import variant_step_reports


def _key(options: dict) -> tuple:
    return tuple(sorted(options.items()))


class RunCounts:
    """Training steps of zoo variants made during one run, each made once: :meth:`training`,
    one step at ``REPORT_BATCH`` x the variant's default input with an optimizer
    (``TrainingReport``); the optimizers named in ``also`` are counted in the same pass (one
    forward and backward for all of them, see
    :func:`inception_cost.counting.training.count_training_each`)."""

    def __init__(self) -> None:
        self._training: dict[tuple, TrainingReport] = {}

    def training(self, name: str, optimizer: str = REPORT_OPTIMIZER, also: Sequence[str] = (),
                 **options) -> TrainingReport:
        """One step of variant ``name`` built with ``options`` (e.g. ``aux=True``)."""
        base = (name, _key(options))
        wanted = [o for o in dict.fromkeys([optimizer, *also]) if (*base, o) not in self._training]
        if wanted:
            for o, rep in zip(wanted, variant_step_reports(name, wanted, **options)):
                self._training[(*base, o)] = rep
        return self._training[(*base, optimizer)]
