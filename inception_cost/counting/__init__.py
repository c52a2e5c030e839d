"""Counting: build -> count -> present. Returns plain data (CostReport)."""
from . import backward_registry as _backward_registry  # noqa: F401 - training-step formulas
from .api import count, smallest_input
from .capture import CaptureConsumer, CapturedCall, OpCapture
from .engine import ForwardError, OpRecord, Recorder, counting, run_callable, run_counted
from .formulas import FORMULAS, FVCORE_FORMULAS
from .registry import (CONVENTIONS, OPS, Cost, GradCost, OpCall, OpCost, OpInfo, RegistryError,
                       register, register_op)
from .cost_report import CostReport, format_shapes

__all__ = ["count", "smallest_input", "OpCapture", "CaptureConsumer", "CapturedCall", "ForwardError", "OpRecord", "Recorder", "counting",
           "run_callable", "run_counted", "FORMULAS", "FVCORE_FORMULAS", "CONVENTIONS", "OPS", "Cost",
           "GradCost", "OpCall", "OpCost", "OpInfo", "RegistryError", "register", "register_op",
           "CostReport", "format_shapes"]
