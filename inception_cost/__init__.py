"""inception-cost: exact, labelled parameter / MAC / FLOP counts for CNNs."""
from .counting import CostReport, count
from .errors import InceptionCostError, UsageError
from .models import build, variants
from .profiling import profile

__version__ = "0.1.0"

__all__ = ["count", "build", "variants", "profile", "CostReport", "InceptionCostError", "UsageError", "__version__"]
