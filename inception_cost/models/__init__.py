"""The zoo: every variant is data plus small blocks, registered by name."""
from .registry import VariantInfo, build, get_variant, register_variant, variants

__all__ = ["VariantInfo", "build", "get_variant", "register_variant", "variants"]
