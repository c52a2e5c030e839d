"""The papers' PRINTED values (as published, mistakes included), loaded from the
JSON files next to this module. Each accessor returns a fresh copy, so callers
(and tests) may edit what they get without touching the package data."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def _load(name: str) -> dict:
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def load(name: str) -> dict:
    """A deep copy of ``papers/<name>.json``."""
    return copy.deepcopy(_load(name))


def googlenet_table1() -> dict:
    """GoogLeNet (CVPR 2015) Table 1 rows and text claims; params/ops as printed."""
    return load("googlenet_table1")


def cs231n_lecture9() -> dict:
    """CS231n 2017 lecture 9: Inception module example, AlexNet conv1, VGG16 figures."""
    return load("cs231n_lecture9")


def googlenet_review() -> dict:
    """A GoogLeNet review's 5x5-with-1x1-reduction worked example."""
    return load("googlenet_review")


def rethinking() -> dict:
    """Rethinking the Inception Architecture: Table 1 outline, claims, Table 3 costs."""
    return load("rethinking")


def bn_inception() -> dict:
    """Batch Normalization (BN-Inception): 13.6M params, +25%/+30% vs GoogLeNet, NASNet's
    Table 2 row for it, and the sources of each printed number."""
    return load("bn_inception")


def imagenet_accuracy() -> list[dict]:
    """Published ImageNet accuracies (``imagenet_accuracy.csv``): one row per network with
    the printed number, its protocol (crops, split) and where it is printed."""
    import csv
    import io
    text = resources.files(__package__).joinpath("imagenet_accuracy.csv").read_text(
        encoding="utf-8")
    return [dict(r) for r in csv.DictReader(io.StringIO(text))]
