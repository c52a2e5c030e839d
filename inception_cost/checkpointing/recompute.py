"""Recompute cost of checkpointing: the forward work that runs again inside backward.

Counted, not estimated: one training step of the model with every given module wrapped
is counted by ``count_training`` (the dispatch-level counter sees the recomputed forward
ops while backward runs) and compared with the step of the unwrapped model.  The forward
and the optimizer are identical; the backward of the wrapped model holds the backward
plus the recompute, each recomputed op attributed to a layer inside the module whose
backward triggered it.  So a module's recompute is the difference of the backward totals
of its layers.  Checkpointed modules recompute independently (one frame each), so the
recompute of any subset is the sum over its modules.  Units: MACs and FLOPs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..counting.placement import copy_on
from ..counting.training import count_training
from .apply import apply_checkpointing

# memory-analysis optimizer names -> counting names (None: no FLOP formula; not counted)
COUNTING_OPTIMIZER = {"none": None, "sgd": "sgd", "momentum": "sgd_momentum",
                      "adam": "adam", "adamw": "adamw", "rmsprop": None, "adagrad": None}


@dataclass(frozen=True)
class RecomputeCosts:
    """``per_module``: {module: (recompute MACs, recompute FLOPs)}; ``step``: the totals of
    the unwrapped step (keys of ``TrainingReport.totals()``: fwd_macs, bwd_macs, opt_flops,
    step_macs, step_flops, ...)."""
    per_module: dict[str, tuple[int, int]]
    step: dict[str, int]

    def of(self, modules) -> tuple[int, int]:
        """(MACs, FLOPs) recomputed by checkpointing ``modules``."""
        macs = sum(self.per_module[m][0] for m in modules)
        flops = sum(self.per_module[m][1] for m in modules)
        return int(macs), int(flops)


def _inclusive(layers, name: str, col: str) -> int:
    rows = layers[(layers["module"] == name) | layers["module"].str.startswith(name + ".")]
    return int(sum(int(v) for v in rows[col]))


def recompute_costs(model: nn.Module, input_size, modules, optimizer: str = "none"
                    ) -> RecomputeCosts:
    """Recompute MACs/FLOPs of each module in ``modules`` (not nested) for one training step
    at ``input_size`` (N, C, H, W), by counting the step with and without checkpointing."""
    opt = COUNTING_OPTIMIZER.get(optimizer, None)
    # on meta, as it is: count_training runs a model that is not on meta through
    # functional_call, whose swapped parameters are gone again when backward recomputes
    model = copy_on(model, "meta")
    plain = count_training(model, tuple(input_size), optimizer=opt)
    # the optimizer step does not change under checkpointing: not counted a second time
    wrapped = count_training(apply_checkpointing(model, modules), tuple(input_size),
                             optimizer=None)
    per = {}
    for m in modules:
        per[m] = (_inclusive(wrapped.layers, m, "bwd_macs") - _inclusive(plain.layers, m, "bwd_macs"),
                  _inclusive(wrapped.layers, m, "bwd_flops") - _inclusive(plain.layers, m, "bwd_flops"))
    return RecomputeCosts(per_module=per, step=plain.totals())
