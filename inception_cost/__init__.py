"""inception-cost: exact, labelled parameter / MAC / FLOP counts for CNNs."""
from .counting import CostReport, count
from .errors import InceptionCostError, UsageError
from .models import build, variants

__version__ = "0.1.0"

__all__ = ["count", "build", "variants", "CostReport", "InceptionCostError", "UsageError", "__version__"]
