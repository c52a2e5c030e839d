"""Audit helpers shared by the reproductions: printed numbers with their rounding,
unit detection (K = 1000 or 1024), gap explanation, verdicts, size formatting and
reading groups of rows out of a count report.

Every tolerance is explicit: a printed number covers half a unit of its last
printed digit either side (``"2.7K"`` covers 2.65K..2.75K), times the unit base.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import pandas as pd

# every base a printed suffix may stand for (decimal first)
SUFFIX_BASES: dict[str, tuple[int, ...]] = {
    "": (1,), "K": (1000, 1024), "M": (10**6, 2**20), "G": (10**9, 2**30),
}
_PRINTED = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([KMG]?)\s*$")


@dataclass(frozen=True)
class Printed:
    """A number as printed: exact mantissa, suffix, and the step of its last digit."""

    text: str
    mantissa: Fraction
    suffix: str
    step: Fraction

    @property
    def bases(self) -> tuple[int, ...]:
        return SUFFIX_BASES[self.suffix]

    @property
    def decimals(self) -> int:
        return 0 if "." not in self.text else len(self.text.split(".")[1].rstrip("KMG "))

    def value(self, base: int | None = None) -> Fraction:
        return self.mantissa * (base if base is not None else self.bases[0])

    def interval(self, base: int | None = None) -> tuple[Fraction, Fraction]:
        """Values that print as this text: mantissa +- step/2, times the base."""
        b = base if base is not None else self.bases[0]
        return (self.mantissa - self.step / 2) * b, (self.mantissa + self.step / 2) * b

    def covers(self, computed: int | float, base: int | None = None) -> bool:
        lo, hi = self.interval(base)
        return lo <= Fraction(computed) <= hi

    def matching_bases(self, computed) -> list[int]:
        return [b for b in self.bases if self.covers(computed, b)]


def parse_printed(text, default_suffix: str = "") -> Printed:
    """'2.7K' -> Printed(mantissa 27/10, suffix 'K', step 1/10); '34,848' -> exact."""
    s = str(text).strip()
    m = _PRINTED.match(s)
    if not m:
        raise ValueError(f"not a printed number: {text!r}")
    digits, suffix = m.group(1).replace(",", ""), m.group(2) or default_suffix
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return Printed(s, Fraction(digits), suffix, Fraction(1, 10**decimals))


_BASE_TEXT = {10**6: "10^6", 2**20: "2^20", 10**9: "10^9", 2**30: "2^30"}


def unit_label(suffix: str, base: int) -> str:
    """('K', 1024) -> 'K=1024'; ('M', 2**20) -> 'M=2^20'."""
    return f"{suffix}={_BASE_TEXT.get(base, base)}" if suffix else "exact"


def in_unit(value, base: int, suffix: str, decimals: int = 1) -> str:
    """9408, 1024, 'K' -> '9.2K' (the papers' style, in a stated base)."""
    return f"{float(value) / base:,.{decimals}f}{suffix}"


def signed_in_unit(value, base: int, suffix: str, decimals: int = 1) -> str:
    txt = in_unit(abs(value), base, suffix, decimals)
    return ("+" if value >= 0 else "-") + txt


def pct(a, b) -> str:
    """Relative difference of a against b, e.g. '+7.4%'."""
    return f"{100.0 * (float(a) - float(b)) / float(b):+.1f}%" if b else "n/a"


@dataclass(frozen=True)
class UnitChoice:
    """Which base a printed column uses, and the evidence."""

    suffix: str
    base: int
    total_error: dict[int, float]   # base -> sum |printed*base - computed|
    rows_within: dict[int, int]     # base -> rows within rounding

    @property
    def other(self) -> list[int]:
        return [b for b in self.total_error if b != self.base]

    def describe(self, what: str) -> str:
        ev = "; ".join(f"{unit_label(self.suffix, b)}: total |error| {self.total_error[b]:,.0f}, "
                       f"{self.rows_within[b]} row(s) within rounding"
                       for b in self.total_error)
        return (f"{what} unit detected: {unit_label(self.suffix, self.base)} "
                f"(smaller total error; {ev})")


def detect_unit(pairs: Sequence[tuple[Printed, int]]) -> UnitChoice | None:
    """Pick the base (1000/1024, 10**6/2**20) that minimises sum |printed*base - computed|."""
    pairs = [(p, c) for p, c in pairs if p is not None and c is not None]
    if not pairs:
        return None
    suffixes = {p.suffix for p, _ in pairs}
    if len(suffixes) != 1:
        raise ValueError(f"mixed suffixes in one column: {sorted(suffixes)}")
    suffix = suffixes.pop()
    errors = {b: float(sum(abs(p.value(b) - c) for p, c in pairs)) for b in SUFFIX_BASES[suffix]}
    within = {b: sum(1 for p, c in pairs if p.covers(c, b)) for b in SUFFIX_BASES[suffix]}
    best = min(errors, key=lambda b: (errors[b], -within[b]))
    return UnitChoice(suffix, best, errors, within)


def explain_gap(lo, hi, terms: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Terms whose value lies in [lo, hi] (a gap = printed - computed, as an interval)."""
    return [(label, v) for label, v in terms if lo <= v <= hi]


@dataclass(frozen=True)
class Finding:
    """One audit finding on one row: kind is a stable tag, message a short sentence."""

    row: str
    kind: str
    message: str


def approx_verdict(computed: float, claimed: float, tolerance: float = 0.10) -> tuple[bool, str]:
    """'about X' claims: holds when within +-tolerance (relative)."""
    rel = (float(computed) - float(claimed)) / float(claimed)
    ok = abs(rel) <= tolerance
    word = "holds" if ok else "does not hold"
    return ok, f"{word} ({rel * 100:+.1f}% vs the claim; tolerance +-{tolerance * 100:.0f}%)"


# --------------------------------------------------------------------------- #
# sizes: options are C x H x W, tables print the papers' H x W x C
# --------------------------------------------------------------------------- #
def dims(shape) -> tuple[int, ...]:
    """A shape column's value as :class:`~inception_cost.counting.cost_report.CostReport` holds
    it (an integer tuple, a single int, or None / NaN for none) -> a tuple of ints (sizes in
    elements; () when there is none)."""
    if shape is None or (isinstance(shape, float) and shape != shape):
        return ()
    if isinstance(shape, (tuple, list)):
        return tuple(int(s) for s in shape)
    return (int(shape),)


def has_shape(shape) -> bool:
    """True when a shape column holds a non-empty shape."""
    return bool(dims(shape))


def hwc(shape: Sequence[int] | None) -> str:
    """(1, 64, 112, 112) (N x C x H x W) -> '112×112×64'; (1, 1000) -> '1×1×1000'."""
    d = dims(shape)
    if len(d) == 4:
        _, c, h, w = d
    elif len(d) == 3:
        c, h, w = d
    elif len(d) == 2:
        c, h, w = d[1], 1, 1
    else:
        return ""
    return f"{h}×{w}×{c}"


def parse_hwc(text: str) -> tuple[int, int, int]:
    """'112×112×64' -> (112, 112, 64)."""
    parts = [int(p) for p in re.split(r"[×x]", str(text).strip())]
    if len(parts) != 3:
        raise ValueError(f"not an HxWxC size: {text!r}")
    return tuple(parts)


def size_text(shape) -> str:
    """(3, 1) -> '3×1'; None or () -> ''."""
    return "×".join(map(str, dims(shape)))


def kernel_text(kernel, stride=None) -> str:
    """(7, 7), (2, 2) -> '7×7/2'; (3, 1) -> '3×1'."""
    k = size_text(kernel)
    s = dims(stride)
    if not s:
        return k
    st = str(s[0]) if len(set(s)) == 1 else "×".join(map(str, s))
    return f"{k}/{st}"


# --------------------------------------------------------------------------- #
# count rows
# --------------------------------------------------------------------------- #
def top(module: str) -> str:
    return module.split(".")[0] if module else ""


def rows_under(layers: pd.DataFrame, children: Iterable[str]) -> pd.DataFrame:
    """Count rows run by the given top-level children (in run order)."""
    names = set(children)
    return layers[layers["module"].map(top).isin(names)]


def first_row_under(layers: pd.DataFrame, child: str) -> pd.Series | None:
    """The first count row whose module path is ``child`` or starts with ``child.``."""
    mask = layers["module"].map(lambda m: m == child or m.startswith(child + "."))
    sub = layers[mask]
    return None if sub.empty else sub.iloc[0]


def weight_count(rows: pd.DataFrame) -> int:
    """Weights (no bias) of the convolution / linear rows: prod(weight_shape)."""
    total = 0
    for op, ws in zip(rows["op"], rows["weight_shape"]):
        if op in ("convolution", "linear", "addmm") and has_shape(ws):
            n = 1
            for d in dims(ws):
                n *= d
            total += n
    return total


def weight_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["op"].isin(["convolution", "linear", "addmm"])]


def out_channels(row) -> int:
    return dims(row["weight_shape"])[0]
