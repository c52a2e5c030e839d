"""Counting: build -> count -> present. Returns plain data (CostReport)."""
from .api import count, smallest_input
from .engine import ForwardError
from .formulas import FORMULAS, FVCORE_FORMULAS, Cost, OpCall
from .report import CostReport

__all__ = ["count", "smallest_input", "ForwardError", "FORMULAS", "FVCORE_FORMULAS", "Cost",
           "OpCall", "CostReport"]
