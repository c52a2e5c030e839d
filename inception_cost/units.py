"""Human-readable numbers that always name their unit."""
from __future__ import annotations

import decimal

_PREFIXES = [(10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")]


_FLOAT_EXACT = 2**53
"""Integers below this are exact as floats; larger counts are scaled with decimals."""


def _integral(value) -> int | None:
    """``value`` as a Python int when it is an integer type (numpy included), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu" and hasattr(value, "item"):
        return int(value.item())
    return None


def _scaled(n: int, scale: int, digits: int) -> str:
    """n / scale to ``digits`` decimals, exactly (round half to even), for any size."""
    with decimal.localcontext() as ctx:
        ctx.prec = len(str(abs(n))) + digits + 5
        return f"{decimal.Decimal(n) / decimal.Decimal(scale):.{digits}f}"


def human(value, unit: str = "", digits: int = 2) -> str:
    """1_500_000_000, "MACs" -> '1.50 GMACs'; 6624904, "params" -> '6.62 M params'.

    An integer count at or above 2**53 (where a float would round it) is scaled
    with exact decimal arithmetic, so every digit shown is the count's own."""
    if value is None or value == "":
        return ""
    n = _integral(value)
    v = float(value)
    sep = " " if unit in ("params", "elements", "images/s", "") else ""
    for scale, p in _PREFIXES:
        if abs(v) >= scale:
            if n is not None and abs(n) >= _FLOAT_EXACT:
                return f"{_scaled(n, scale, digits)} {p}{sep}{unit}".rstrip()
            return f"{v / scale:.{digits}f} {p}{sep}{unit}".rstrip()
    if float(v).is_integer():
        return f"{int(v)} {unit}".rstrip()
    return f"{v:.{digits}f} {unit}".rstrip()


def human_bytes(n) -> str:
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{v:.2f} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return f"{v:.2f} TiB"
