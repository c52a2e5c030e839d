"""Activation checkpointing: wrap chosen modules in non-reentrant
``torch.utils.checkpoint`` (``apply.apply_checkpointing``)."""
from .apply import apply_checkpointing, check_modules, is_checkpointed

__all__ = ["apply_checkpointing", "check_modules", "is_checkpointed"]
