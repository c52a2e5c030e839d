"""Human-readable numbers that always name their unit."""
from __future__ import annotations

_PREFIXES = [(10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")]


def human(value, unit: str = "", digits: int = 2) -> str:
    """1_500_000_000, "MACs" -> '1.50 GMACs'; 6624904, "params" -> '6.62 M params'."""
    if value is None or value == "":
        return ""
    v = float(value)
    sep = " " if unit in ("params", "elements", "images/s", "") else ""
    for scale, p in _PREFIXES:
        if abs(v) >= scale:
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
