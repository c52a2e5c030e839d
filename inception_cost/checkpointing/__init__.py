"""Activation checkpointing: which modules to wrap in non-reentrant
``torch.utils.checkpoint`` so a training step fits a memory budget (``checkpoint_plan``),
and the wrapped model itself (``apply_checkpointing``)."""
from .apply import apply_checkpointing, check_modules, is_checkpointed
from .candidates import candidate_modules
from .planner import checkpoint_plan
from .result import CheckpointPlanResult

__all__ = ["apply_checkpointing", "check_modules", "is_checkpointed", "candidate_modules",
           "checkpoint_plan", "CheckpointPlanResult"]
