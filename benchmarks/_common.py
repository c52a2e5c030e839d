"""Shared by the benchmark scripts: the real training step they time, the loss it takes,
a CSV of result rows, and the command line every speed benchmark starts from.

It imports nothing of ``inception_cost`` (the ``--before`` mode runs these scripts with
another checkout's package first on the path)."""
from __future__ import annotations

import argparse
import csv
import io

import torch
import torch.nn.functional as F

import before_after  # noqa: E402 - benchmarks/ is the scripts' folder

AUX_WEIGHT = 0.3
"""Weight of each auxiliary head's cross-entropy (GoogLeNet, Inception v3), as ``train``."""


def step_loss(out) -> torch.Tensor:
    """Cross-entropy of the first output tensor against class 0, plus ``AUX_WEIGHT`` x that of
    each further one (the auxiliary heads): the loss ``train`` counts by default."""
    outs = [out] if isinstance(out, torch.Tensor) else [o for o in out if isinstance(o, torch.Tensor)]
    target = torch.zeros(outs[0].shape[0], dtype=torch.long, device=outs[0].device)
    loss = F.cross_entropy(outs[0], target)
    for aux in outs[1:]:
        loss = loss + AUX_WEIGHT * F.cross_entropy(aux, target)
    return loss


def sgd_step(model: torch.nn.Module, x: torch.Tensor):
    """A function running one real training step of ``model`` on ``x``: gradients cleared,
    forward, :func:`step_loss`, backward, ``torch.optim.SGD(lr=0.01, foreach=False).step()``
    (the per-parameter loop the timing model records)."""
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01,
                          foreach=False)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        step_loss(model(x)).backward()
        opt.step()
    return step


def csv_text(rows: list[dict], cols: list[str] | None = None) -> str:
    """The rows as CSV text with a header (``cols``: the columns, default the first row's
    keys; a missing value is empty), ``\\n`` line ends."""
    cols = list(rows[0]) if cols is None else cols
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in cols})
    return buf.getvalue()


def speed_parser(repeat: int) -> argparse.ArgumentParser:
    """The options every speed benchmark takes: ``--repeat`` (best of N rounds), ``--out``
    (the folder of its recorded results) and the before/after options
    (:func:`before_after.add_options`)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--out", default="reports/benchmarks")
    before_after.add_options(ap)
    return ap
