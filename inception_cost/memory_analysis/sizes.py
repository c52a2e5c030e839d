"""Memory sizes as people write them: '16GiB', '512 MiB', '1.5GB', '8G'."""
from __future__ import annotations

import re

from ..errors import UsageError

_UNITS = {"": 1, "b": 1,
          "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30,
          "t": 2**40, "tib": 2**40,
          "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str, what: str = "--fit") -> int:
    """'16GiB' -> 17179869184 bytes.  KiB/MiB/GiB/TiB and the bare K/M/G/T are powers of
    1024; KB/MB/GB/TB are powers of 1000; no unit means bytes."""
    m = _SIZE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise UsageError(f"{what} must be a size like 16GiB, 512MiB or 24GB (got '{text}')")
    value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise UsageError(f"{what} must be a positive size (got '{text}')")
    return value


def gib(nbytes: int) -> str:
    """Bytes as GiB with two decimals, e.g. '0.51 GiB'."""
    return f"{nbytes / 2**30:.2f} GiB"
