"""Memory sizes as people write them: '16GiB', '512 MiB', '8.2GB', '8G' -> exact bytes.

The number is read as an exact decimal (never a float: '8.2GB' is 8,200,000,000 bytes);
a size that is not a whole number of bytes is rounded down (a budget of 1.5 bytes holds
1 byte).
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..errors import UsageError

_UNITS = {"": 1, "b": 1,
          "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30,
          "t": 2**40, "tib": 2**40, "p": 2**50, "pib": 2**50,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
MAX_DIGITS = 4000   # a longer number is refused before any arithmetic on it


def parse_size(text: str, what: str = "--fit") -> int:
    """'16GiB' -> 17179869184 bytes.  KiB/MiB/GiB/TiB/PiB and the bare K/M/G/T/P are
    powers of 1024; KB/MB/GB/TB/PB are powers of 1000; no unit (or B) means bytes."""
    m = _SIZE.match(str(text)) if len(str(text)) <= MAX_DIGITS else None
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise UsageError(f"{what} must be a size like 16GiB, 512MiB or 24GB (got "
                         f"'{_shown(text)}')")
    value = int(Fraction(m.group(1)) * _UNITS[unit])   # exact decimal, rounded down
    if value <= 0:
        raise UsageError(f"{what} must be a positive size (got '{_shown(text)}')")
    return value


def _shown(text) -> str:
    text = str(text)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def gib(nbytes: int) -> str:
    """Bytes as GiB with two decimals, e.g. '0.51 GiB'."""
    return f"{nbytes / 2**30:.2f} GiB"
