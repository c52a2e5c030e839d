"""inception-cost: exact, labelled parameter / MAC / FLOP counts for CNNs."""
from .counting import CostReport, count
from .errors import InceptionCostError, UsageError
from .models import build, variants
from .profiling import profile
from .memory import memory  # the function; import submodules with "from inception_cost.memory.x import"

__version__ = "0.1.0"

__all__ = ["count", "build", "variants", "profile", "memory", "CostReport", "InceptionCostError", "UsageError", "__version__"]
