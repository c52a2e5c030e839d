"""``inception-cost train MODEL``: forward + backward + optimizer cost of one training step."""
from __future__ import annotations

import click

from ..counting.engine import ForwardError
from ..counting.optimizer_formulas import OPTIMIZERS
from ..counting.training import count_training
from ..errors import UsageError
from ..models.resolve import resolve_training_model
from ..report.training_table import UNITS, training_notes, training_table
from ..report.render import render, write_output
from .layers import count_error
from .limits import check_numel
from .options import format_option, output_option, parse_chw

DEFAULT_BATCH = 32
"""Training batch per replica in Szegedy et al. 2016 (Rethinking), Sec. 8."""


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
@format_option()
@output_option()
def train_cmd(model, input_, batch, optimizer, freeze, aux, depth, fmt, output):
    """Per-layer MACs/FLOPs of one training step of MODEL: forward (train mode),
    backward split into input- and weight-gradient work, and the optimizer step.

    MODEL: a variant name, torchvision:NAME, timm:NAME or path/to/file.py:factory."""
    if batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    chw = parse_chw(input_) if input_ else None
    if chw:
        check_numel(batch, chw)
    module, default_size, label = resolve_training_model(model, aux)
    chw = chw or default_size
    check_numel(batch, chw)
    try:
        report = count_training(module, (batch, *chw), optimizer=optimizer, freeze=freeze, name=label)
    except ForwardError as e:
        # train runs on meta only: no --device hint, but the int64 size-overflow line of `layers`
        raise count_error(e, "cpu") from None
    title = (f"{label} training step @ {batch}x{chw[0]}x{chw[1]}x{chw[2]} (N x C x H x W), "
             f"optimizer {report.optimizer.name if report.optimizer else 'none'}")
    text = render(training_table(report, depth, fmt), fmt, title=title, units=UNITS,
                  notes=training_notes(report))
    write_output(text, output)


