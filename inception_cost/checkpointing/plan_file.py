"""A checkpointing plan as a small JSON file a user can read, edit and commit:

    {"format": "inception-cost checkpoint plan", "version": 1,
     "model": "googlenet", "batch": 256, "input_size": [3, 224, 224],
     "optimizer": "adam", "dtype": "fp32", "budget_bytes": 17179869184,
     "predicted_peak_bytes": ..., "recompute_macs": ..., "recompute_flops": ...,
     "modules": ["inception3a", "inception4b"]}

Only ``modules`` is needed to apply a plan; the rest records what it was planned for.
Written atomically (``inception_cost.atomic``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..atomic import write_text
from ..errors import UsageError

FORMAT = "inception-cost checkpoint plan"
VERSION = 1


@dataclass(frozen=True)
class CheckpointPlan:
    """Module names to checkpoint, and what the plan was made for (``info``)."""
    modules: tuple[str, ...]
    info: dict = field(default_factory=dict)


def plan_dict(result) -> dict:
    """The JSON object of a planner result (``CheckpointPlanResult``)."""
    return {"format": FORMAT, "version": VERSION, "model": result.model,
            "batch": result.batch, "input_size": list(result.input_size),
            "optimizer": result.optimizer, "dtype": result.dtype,
            "budget_bytes": result.budget_bytes, "predicted_peak_bytes": result.peak_bytes,
            "recompute_macs": result.recompute_macs, "recompute_flops": result.recompute_flops,
            "method": result.method,
            "proven_optimal": bool(getattr(result, "proven_optimal", False)),
            "objective": getattr(result, "objective", ""), "modules": list(result.modules)}


def save_plan(result, path: str) -> None:
    """Write ``result``'s plan to ``path`` (atomic)."""
    write_text(path, json.dumps(plan_dict(result), indent=2) + "\n", what="plan")


def load_plan(path: str) -> CheckpointPlan:
    """Read a plan file; a missing, malformed or wrongly shaped file is a ``UsageError``
    naming the path.  (Whether the modules exist in a model is checked when applied.)"""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read plan {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"plan {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or "modules" not in data:
        raise UsageError(f"plan {path} must be a JSON object with a \"modules\" list")
    mods = data["modules"]
    if not isinstance(mods, list) or not all(isinstance(m, str) and m for m in mods):
        raise UsageError(f"plan {path}: \"modules\" must be a list of module names (strings)")
    if data.get("format", FORMAT) != FORMAT:
        raise UsageError(f"plan {path} is not an {FORMAT} (format {data.get('format')!r})")
    return CheckpointPlan(tuple(mods), {k: v for k, v in data.items() if k != "modules"})
