"""The counts one ``inception-cost report`` run shares between its artifacts: each zoo
variant's forward pass (batch 1) and each training step (batch ``REPORT_BATCH``) is counted
once per run, whichever tables and files read it.

An explicit object made by the run and passed down (never a module-level cache): a new run,
or a count with other formulas, starts from nothing, so no count outlives the run that made
it."""
from __future__ import annotations

from typing import Sequence

from ..counting import count
from ..counting.cost_report import CostReport
from ..counting.training import TrainingReport, count_training_each
from ..models.registry import build, get_variant
from ..report.training_reports import REPORT_BATCH, REPORT_OPTIMIZER


def _key(options: dict) -> tuple:
    return tuple(sorted(options.items()))


class RunCounts:
    """Counts of zoo variants made during one run, each made once.

    :meth:`forward`: a variant's CostReport at batch 1, its default input (MACs, FLOPs,
    params). :meth:`training`: one training step at ``REPORT_BATCH`` x its default input
    with an optimizer (``TrainingReport``); the optimizers named in ``also`` are counted in
    the same pass (one forward and backward for all of them, see
    :func:`inception_cost.counting.training.count_training_each`)."""

    def __init__(self) -> None:
        self._forward: dict[tuple, CostReport] = {}
        self._training: dict[tuple, TrainingReport] = {}

    def forward(self, name: str, **options) -> CostReport:
        key = (name, _key(options))
        if key not in self._forward:
            info = get_variant(name)
            self._forward[key] = count(build(name, **options), (1, *info.input_size), name=name)
        return self._forward[key]

    def training(self, name: str, optimizer: str = REPORT_OPTIMIZER, also: Sequence[str] = (),
                 **options) -> TrainingReport:
        """One step of variant ``name`` built with ``options`` (e.g. ``aux=True``)."""
        base = (name, _key(options))
        wanted = [o for o in dict.fromkeys([optimizer, *also]) if (*base, o) not in self._training]
        if wanted:
            model = build(name, **options)
            reports = count_training_each(model, (REPORT_BATCH, *get_variant(name).input_size),
                                          optimizers=wanted, name=name)
            for o, rep in zip(wanted, reports):
                self._training[(*base, o)] = rep
        return self._training[(*base, optimizer)]
