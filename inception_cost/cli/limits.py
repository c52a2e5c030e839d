"""Limits the command line checks before it builds or runs anything.

* A tensor's storage holds at most 2**63 - 1 bytes (torch sizes are int64): an
  fp32 input N x C x H x W beyond 2**63 - 1 bytes (2**61 elements) is an error,
  never a wrapped number. (Counts themselves are exact Python integers.)
* A real (CPU) forward — ``--engine fvcore`` or ``--device cpu`` — needs memory
  for the weights, the input and the activations. It is refused when the
  estimate (4 bytes x (params + input elements + every op's output elements),
  an upper bound: inference frees tensors as it goes) exceeds the smaller of
  8 GiB and half of this machine's physical memory.
"""
from __future__ import annotations

import math
import os

from ..errors import UsageError

MAX_BYTES = 2**63 - 1
FP32_BYTES = 4
REAL_FORWARD_CAP_BYTES = 8 * 2**30


def sci(n: int) -> str:
    """A (possibly huge) non-negative integer in short scientific notation, from its
    digits (no float: 10**400 is fine): 150528000000 -> '1.505e+11'."""
    s = str(n)
    if len(s) <= 4:
        return s
    return f"{s[0]}.{s[1:4]}e+{len(s) - 1:02d}"


def check_numel(batch: int, chw: tuple[int, int, int], what: str = "input") -> None:
    """UsageError when N x C x H x W fp32 elements cannot be one tensor."""
    n = batch * math.prod(chw)
    if n * FP32_BYTES > MAX_BYTES:
        c, h, w = chw
        shown = batch if len(str(batch)) <= 24 else sci(batch)
        raise UsageError(f"{what} {shown}x{c}x{h}x{w} (N x C x H x W) has {sci(n)} elements, more "
                         f"than one fp32 tensor can hold (2^63 - 1 bytes); use a smaller --batch "
                         "or --input")


def physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def real_forward_cap() -> int:
    """Bytes a real CPU forward may need: min(8 GiB, half the physical memory)."""
    phys = physical_memory_bytes()
    return min(REAL_FORWARD_CAP_BYTES, phys // 2) if phys else REAL_FORWARD_CAP_BYTES


def real_forward_bytes(report) -> int:
    """Upper bound of an fp32 forward's memory from a (meta) CostReport, in bytes."""
    inputs = sum(math.prod(s) for s in report.input_shapes)
    return 4 * (int(report.total_params) + inputs + int(report.total_activations))


def check_real_forward(report, what: str) -> None:
    """UsageError when ``what`` (a real CPU forward) would need too much memory."""
    need, cap = real_forward_bytes(report), real_forward_cap()
    if need > cap:
        raise UsageError(f"{what} runs a real CPU forward that needs about {need / 2**30:,.1f} GiB "
                         f"(weights + input + activations, fp32), over the {cap / 2**30:.1f} GiB "
                         "limit; use a smaller --batch or --input (the native engine on the "
                         "meta device counts any size)")


def check_real_forward_of(module, batch: int, chw: tuple[int, int, int], what: str) -> None:
    """As :func:`check_real_forward`, counting ``module`` (a copy on meta) first;
    a model the meta device cannot run (it reads values) is estimated from its
    weights and input alone."""
    import copy

    from ..counting import count
    from ..counting.engine import ForwardError
    try:
        meta = copy.deepcopy(module).to("meta")
        check_real_forward(count(meta, (batch, *chw)), what)
        return
    except ForwardError:
        pass
    need = 4 * (sum(p.numel() for p in module.parameters()) + batch * math.prod(chw))
    cap = real_forward_cap()
    if need > cap:
        raise UsageError(f"{what} needs at least {need / 2**30:,.1f} GiB for the weights and the "
                         f"input (fp32), over the {cap / 2**30:.1f} GiB limit; use a smaller "
                         "--batch or --input")
