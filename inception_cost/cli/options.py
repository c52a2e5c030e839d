"""Option parsing shared by the commands (sizes, formats, output)."""
from __future__ import annotations

import re

import click

from ..errors import UsageError
from ..report.render import FORMATS

_SIZE = re.compile(r"^\s*(\d+)\s*[x×,]\s*(\d+)\s*[x×,]\s*(\d+)\s*$")


def parse_chw(text: str, what: str = "--input") -> tuple[int, int, int]:
    """'3x224x224' (C x H x W, PyTorch's order) -> (3, 224, 224)."""
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(f"{what} must look like CxHxW, e.g. 3x224x224 (got '{text}')")
    if any(len(g.lstrip("0")) > 19 for g in m.groups()):
        raise UsageError(f"{what} '{text}' is too large: one fp32 tensor holds at most 2^61 elements")
    c, h, w = (int(g) for g in m.groups())
    if min(c, h, w) <= 0:
        raise UsageError(f"{what} sizes must be positive (got '{text}')")
    if 4 * c * h * w > 2**63 - 1:
        raise UsageError(f"{what} '{text}' has {c * h * w:.3e} elements, more than one fp32 "
                         "tensor can hold (2^63 - 1 bytes)")
    return c, h, w


def parse_int_list(text: str, what: str) -> list[int]:
    try:
        vals = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, e.g. 1,32,256 (got '{text}')")
    if not vals or min(vals) <= 0:
        raise UsageError(f"{what} must be positive integers (got '{text}')")
    return vals


def format_option(default: str = "rich"):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=default,
                        show_default=True, help="Output format (csv/json carry exact integers).")


def _destination(ctx, param, value):
    from ..report.render import set_destination
    set_destination(value)   # colour and table style follow the destination, not stdout
    return value


def output_option():
    return click.option("--output", "-o", default=None, callback=_destination,
                        help="Write to this file instead of stdout (plain text, atomically).")
