"""``inception-cost train MODEL``: forward + backward + optimizer cost of one training step."""
from __future__ import annotations

import click
import torch

from ..counting.engine import ForwardError
from ..counting.optimizer_formulas import OPTIMIZERS
from ..counting.training import count_training
from ..errors import UsageError
from ..models.registry import build, get_variant
from ..models.resolve import resolve_model
from ..report.training_table import UNITS, training_notes, training_table
from ..report.render import render, write_output
from .options import format_option, output_option, parse_chw

DEFAULT_BATCH = 32
"""Training batch per replica in Szegedy et al. 2016 (Rethinking), Sec. 8."""

_TV_AUX = {"torchvision:googlenet", "torchvision:inception_v3"}


def training_model(spec: str, aux: bool):
    """(module, default C x H x W, label); auxiliary heads on where the model has them."""
    module, size, label = resolve_model(spec)
    if aux and ":" not in spec and get_variant(spec).training_heads:
        module = build(spec, **get_variant(spec).training_heads)
    elif aux and spec in _TV_AUX:
        import torchvision
        with torch.device("meta"):
            module = torchvision.models.get_model(spec.split(":", 1)[1], weights=None,
                                                  aux_logits=True, init_weights=False)
    return module, size, label


@click.command("train")
@click.argument("model")
@click.option("--input", "input_", default=None, help="C x H x W, e.g. 3x224x224 (default: the model's own).")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=int,
              help="Batch size N (32: Rethinking's training batch per replica).")
@click.option("--optimizer", default="sgd", show_default=True,
              help=f"One of {', '.join(OPTIMIZERS)}, or none.")
@click.option("--freeze", default=None,
              help="Comma-separated module/parameter patterns with no gradient, e.g. 'conv1,conv2*'.")
@click.option("--aux/--no-aux", default=True, show_default=True,
              help="Build the auxiliary classifiers where the model has them (GoogLeNet, Inception-v3).")
@click.option("--depth", default=None, type=int, help="Aggregate by module depth K.")
@click.option("--checkpoint", default=None,
              help="PLAN.json (from memory --plan --save-plan): add the recompute of that "
                   "checkpointing plan as its own phase.")
@format_option()
@output_option()
def train_cmd(model, input_, batch, optimizer, freeze, aux, depth, checkpoint, fmt, output):
    """Per-layer MACs/FLOPs of one training step of MODEL: forward (train mode),
    backward split into input- and weight-gradient work, and the optimizer step.

    MODEL: a variant name, torchvision:NAME, timm:NAME or path/to/file.py:factory."""
    if batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    module, default_size, label = training_model(model, aux)
    chw = parse_chw(input_) if input_ else default_size
    try:
        report = count_training(module, (batch, *chw), optimizer=optimizer, freeze=freeze, name=label)
    except ForwardError as e:
        raise UsageError(str(e)) from None
    title = (f"{label} training step @ {batch}x{chw[0]}x{chw[1]}x{chw[2]} (N x C x H x W), "
             f"optimizer {report.optimizer.name if report.optimizer else 'none'}")
    text = render(training_table(report, depth, fmt), fmt, title=title, units=UNITS,
                  notes=training_notes(report))
    if checkpoint:
        from .checkpoint_cli import train_phases
        phases = train_phases(module, (batch, *chw), optimizer, freeze, report, checkpoint)
        ptext = render(phases, fmt, title=f"by phase, with checkpointing plan {checkpoint}",
                       notes=["recompute: forward work run again inside backward (counted: "
                              "the wrapped step minus the plain one)"])
        text = ptext if fmt in ("csv", "json") else text + "\n" + ptext
    write_output(text, output)


