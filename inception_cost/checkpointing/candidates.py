"""Which modules a user would wrap in checkpointing: blocks, Inception modules, stages'
members - one level of the module tree, never nested, never a single layer.

The walk starts at the model's children.  A child with no children of its own (a conv, a
pool) is a layer: skipped.  A child that is a *stage* - an ``nn.Sequential``/``ModuleList``
holding at least two blocks (non-container modules with children), like ResNet's
``layer1`` or ViT's ``encoder.layers`` - or a module whose only non-layer child is such a stage (ViT's
``encoder``) is entered, and its blocks become candidates.  Any other child is a
candidate when it holds at least two layers (GoogLeNet's ``inception3a``, a conv+BN+ReLU
block, an auxiliary head); a container around one layer saves nothing worth a recompute.
"""
from __future__ import annotations

import torch.nn as nn

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _is_layer(m: nn.Module) -> bool:
    return next(iter(m.children()), None) is None


def _is_stage(m: nn.Module) -> bool:
    if not isinstance(m, _CONTAINERS):
        return False
    blocks = [c for c in m.children() if not _is_layer(c)]
    return len(blocks) >= 2 and all(not isinstance(c, _CONTAINERS) for c in blocks)


def _holds_stage(m: nn.Module) -> bool:
    """A stage, or a module whose only child with children is a stage (ViT's encoder)."""
    if _is_stage(m):
        return True
    inner = [c for c in m.children() if not _is_layer(c)]
    return len(inner) == 1 and _is_stage(inner[0])


def _layers(m: nn.Module) -> int:
    return sum(1 for c in m.modules() if _is_layer(c))


def candidate_modules(model: nn.Module) -> list[str]:
    """Dotted names of the candidate modules, in registration order (see module doc)."""
    out: list[str] = []
    seen: set[int] = set()

    def visit(mod: nn.Module, prefix: str) -> None:
        for name, child in mod.named_children():
            if child is None or id(child) in seen:
                continue
            seen.add(id(child))
            full = prefix + name
            if _is_layer(child):
                continue
            if _holds_stage(child):
                visit(child, full + ".")
            elif _layers(child) >= 2:
                out.append(full)

    visit(model, "")
    return out
