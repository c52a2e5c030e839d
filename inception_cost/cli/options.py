"""Option parsing shared by the commands (sizes, formats, output)."""
from __future__ import annotations

import re

import click

from ..counting.step_program import DEFAULT_OPTIMIZER  # noqa: F401 - the shared default
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


# --- the shared vocabulary: one definition of each option every command uses -------------

INFERENCE_BATCH = 1
"""Default batch of every inference analysis (``layers``, ``memory``, ``profile``,
``predict``): one sample, the papers' per-image costs."""

TRAINING_BATCH = 32
"""Default batch of every training analysis (``train``, ``memory --train``, ``predict
--train``): Szegedy et al. 2016 (Rethinking), Sec. 8, batch 32 per replica; also the batch
of the committed training reports and of the training gate."""


OPTIMIZER_NAMES = ("none", "sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw")
"""The optimizers of ``train``, ``predict --train`` and ``memory`` (``memory`` also models
``rmsprop`` and ``adagrad``)."""


def default_batch(training: bool) -> int:
    """:data:`TRAINING_BATCH` for a training step, else :data:`INFERENCE_BATCH`."""
    return TRAINING_BATCH if training else INFERENCE_BATCH


def batch_option(sweep: bool = False, training: bool | None = None):
    """``--batch``. ``sweep``: comma-separated sizes (``1,32,256``); ``training``: the
    command's mode (None: chosen by its ``--train`` flag)."""
    if training is None:
        default = (f"{INFERENCE_BATCH}; with --train {TRAINING_BATCH}, Rethinking's batch "
                   "per replica")
    elif training:
        default = f"{TRAINING_BATCH}, Rethinking's training batch per replica"
    else:
        default = str(INFERENCE_BATCH)
    if sweep:
        return click.option("--batch", "batch", default=None,
                            help=f"Batch size N, or comma-separated sizes to sweep, e.g. "
                                 f"1,32,256 [default: {default}].")
    return click.option("--batch", "batch", default=None, type=int,
                        help=f"Batch size N [default: {default}; or the first size of a "
                             "batched --input].")


def optimizer_option(extra: tuple[str, ...] = ()):
    """``--optimizer`` with the shared default (:data:`DEFAULT_OPTIMIZER`)."""
    names = " | ".join(OPTIMIZER_NAMES + tuple(extra))
    return click.option("--optimizer", default=DEFAULT_OPTIMIZER, show_default=True,
                        help=f"{names} (old spelling: momentum = sgd_momentum).")


FREEZE_HELP = "Comma-separated module/parameter patterns with no gradient, e.g. 'conv1,conv2*'."


def freeze_option():
    """``--freeze PATTERNS`` of a training step (``train``, ``predict --train``): fnmatch
    patterns of module or parameter paths whose parameters get no gradient."""
    return click.option("--freeze", default=None, help=FREEZE_HELP)


def dtype_option(choices: str, default: str | None = "fp32", detail: str = ""):
    """``--dtype``: ``choices`` as the command's help shows them (fp32, fp16, bf16 ...)."""
    shown = default or "fp32, or the dtype the model was built in"
    return click.option("--dtype", "dtype", default=default,
                        help=f"{choices} [default: {shown}]." + (f" {detail}" if detail else ""))


INPUT_HELP = ("A forward argument: shape with or without batch (784, 1x784, 3x224x224, "
              "8x3x224x224), optional dtype and integer range (ids:int64:1x128:0..30522), "
              "NAME=... for a keyword (attention_mask=1x128:int64). Repeat for several "
              "(default: the model's own).")


def input_option():
    """``--input`` (repeatable), read by :func:`inception_cost.cli.input_option.parse_input`."""
    return click.option("--input", "input_", multiple=True, help=INPUT_HELP)
