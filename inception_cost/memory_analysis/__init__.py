"""Memory: peak bytes of inference and of a training step, per category, per module and
over time, from storage lifetimes tracked on the meta device (see ``api.memory``)."""
from .api import fit_batch, memory
from .categories import CATEGORIES
from .combined_step import StepAnalysis, analyse_step
from .result import MemoryReport

__all__ = ["memory", "fit_batch", "analyse_step", "StepAnalysis", "MemoryReport", "CATEGORIES"]
