"""One registry maps a variant name to its builder (``@register_variant``)."""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from ..errors import UsageError


@dataclass(frozen=True)
class VariantInfo:
    name: str
    description: str             # one line
    input_size: tuple[int, int, int]  # default input, C x H x W
    source: str                  # "paper: ..." or "reference: ..."
    reference: str | None        # e.g. "torchvision:googlenet" for structure parity tests
    kind: str                    # "network" or "module"
    builder: Callable[..., nn.Module]

    @property
    def options(self) -> list[str]:
        return [p for p in inspect.signature(self.builder).parameters]

    @property
    def training_heads(self) -> dict:
        """``{"aux": True}`` where the builder has an on/off switch for the network's own
        training-only auxiliary heads (GoogLeNet, Inception-v3); else ``{}``. BN-Inception's
        ``aux=0/1/2`` is a reading of the paper, not a switch, and is left alone."""
        p = inspect.signature(self.builder).parameters.get("aux")
        return {"aux": True} if p is not None and isinstance(p.default, bool) else {}


_REGISTRY: dict[str, VariantInfo] = {}


def register_variant(name: str, *, description: str, input_size: tuple[int, int, int],
                     source: str, reference: str | None = None, kind: str = "network"):
    """Decorator: register ``builder(**options) -> nn.Module`` under ``name``."""
    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"variant '{name}' registered twice")
        _REGISTRY[name] = VariantInfo(name, description, tuple(input_size), source, reference,
                                      kind, fn)
        return fn
    return deco


def _load_all() -> None:
    from . import _catalog  # noqa: F401  (imports every family module)


def variants() -> list[VariantInfo]:
    """Every registered variant: families in catalog order, then definition order."""
    _load_all()
    from ._catalog import FAMILIES

    def key(item):
        seq, info = item
        family = info.builder.__module__.rsplit(".", 1)[-1]
        return (FAMILIES.index(family) if family in FAMILIES else len(FAMILIES), seq)

    return [info for _, info in sorted(enumerate(_REGISTRY.values()), key=key)]


def get_variant(name: str) -> VariantInfo:
    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else \
            "; run `inception-cost variants` for the list"
        raise UsageError(f"unknown variant '{name}'{hint}")
    return _REGISTRY[name]


def build(name: str, device: str = "meta", **options) -> nn.Module:
    """Build variant ``name`` on ``device`` (meta: no memory) in eval mode."""
    info = get_variant(name)
    allowed = set(info.options)
    bad = sorted(set(options) - allowed)
    if bad:
        raise UsageError(f"variant '{name}' has no option {', '.join(bad)} "
                         f"(options: {', '.join(sorted(allowed)) or 'none'})")
    try:
        with torch.device(device):
            model = info.builder(**options)
    except UsageError:
        raise
    except (ValueError, TypeError) as e:
        raise UsageError(f"cannot build '{name}': {e}") from None
    if getattr(model, "default_input_size", None) is None:
        model.default_input_size = tuple(info.input_size)   # read by count(model), memory(model)
    return model.eval()
