"""One training step's program: the loss, the frozen parameters, the training-only heads'
loss weight and the optimizer (its name and implementation), defined once and run by
``count_training`` (``train``), ``memory(training=True)`` (``memory --train``) and
anything built after them.

Optimizer names (one vocabulary, :data:`OPTIMIZER_NAMES`): ``none``, ``sgd``,
``sgd_momentum`` (momentum 0.9), ``sgd_nesterov`` (momentum 0.9, Nesterov), ``adam``,
``adamw`` (decoupled weight decay 1e-2), ``rmsprop``, ``adagrad``; older spellings
(:data:`OLD_OPTIMIZER_NAMES`: ``momentum``) are mapped here and nowhere else.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UsageError
from .optimizer_formulas import OptimizerSpec
from .output_tensors import output_tensors
from .training_loss import AUX_LOSS_WEIGHT

OPTIMIZER_NAMES = ("none", "sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw", "rmsprop",
                   "adagrad")
"""Every optimizer a step program can run (``none``: no optimizer step)."""

DEFAULT_OPTIMIZER = "sgd_momentum"
"""Default optimizer of every training analysis (``train``, ``memory --train``, ``predict
--train`` and ``inception_cost.predict(training=True)``): SGD with momentum 0.9, the
optimizer of GoogLeNet, BN-Inception, VGG and ResNet as published, and of the committed
training reports (so ``train MODEL`` reproduces them)."""

OLD_OPTIMIZER_NAMES = {"momentum": "sgd_momentum"}
"""Older spelling -> its name in :data:`OPTIMIZER_NAMES`."""

_TORCH_OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
    "rmsprop": ("RMSprop", {}),
    "adagrad": ("Adagrad", {}),
}
"""name -> (``torch.optim`` class, its keyword arguments). Every other hyper-parameter is
torch's default (the learning rate changes neither FLOPs nor bytes; AdamW's default
weight decay is 1e-2)."""


def canonical_optimizer(name: str) -> str:
    """``name`` (case and surrounding spaces ignored) in :data:`OPTIMIZER_NAMES`, an old
    spelling mapped; an unknown name is returned as written in lower case (the caller
    decides what it accepts)."""
    text = str(name).strip().lower()
    return OLD_OPTIMIZER_NAMES.get(text, text)


def step_outputs(out) -> list[torch.Tensor] | None:
    """The output tensors a training step's default loss reads, main first; None when the
    output is not tensors (a tensor; a list/tuple of tensors only; a dict's tensors, ``out``
    first — a transformers output also holds a key/value cache, which is not an output)."""
    if isinstance(out, (list, tuple)) and not all(isinstance(o, torch.Tensor) for o in out):
        return None                                 # a mixed tuple is refused, not guessed
    return output_tensors(out, main_first=True) or None


def freeze_patterns(freeze) -> list[str]:
    """Freeze patterns from None, a comma-separated string or a list of strings."""
    if freeze is None:
        return []
    if isinstance(freeze, str):
        freeze = freeze.split(",")
    return [p.strip() for p in freeze if p and p.strip()]


def cross_entropy(t: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over dim 1 of ``t``. Without ``target``: class index 0 at every
    position (a target of shape ``(N, *t.shape[2:])``); with a per-sample ``target`` (N,):
    ``t`` flattened to N x classes."""
    if target is not None:
        return F.cross_entropy(t if t.dim() == 2 else t.flatten(1), target)
    if t.dim() < 2:
        raise UsageError(f"the default loss (cross-entropy over dim 1) needs a batched output, "
                         f"got shape {tuple(t.shape)}; pass loss=")
    zeros = torch.zeros((t.shape[0], *t.shape[2:]), dtype=torch.long, device=t.device)
    return F.cross_entropy(t, zeros)


def default_loss(outputs: list[torch.Tensor], aux_weight: float = AUX_LOSS_WEIGHT,
                 target: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the main output plus ``aux_weight`` (a plain number) times the
    cross-entropy of each auxiliary output (see :func:`cross_entropy` for ``target``)."""
    loss = cross_entropy(outputs[0], target)
    for aux in outputs[1:]:
        loss = loss + aux_weight * cross_entropy(aux, target)
    return loss


@dataclass(frozen=True)
class StepProgram:
    """What one training step runs besides the model's forward.

    ``optimizer``: a name of :data:`OPTIMIZER_NAMES` (old spellings mapped), an
    :class:`OptimizerSpec`, or None (no optimizer step). ``foreach``: the optimizer's
    implementation, True = multi-tensor, False = the per-parameter loop.
    ``freeze``: module/parameter path patterns (fnmatch) whose parameters get no
    gradient. ``aux_weight``: the weight of each training-only head's loss. ``loss``:
    ``loss(output) -> scalar tensor`` replacing the default loss, or None."""

    optimizer: str | OptimizerSpec | None = "sgd"
    foreach: bool = False
    freeze: tuple[str, ...] = ()
    aux_weight: float = AUX_LOSS_WEIGHT
    loss: Callable | None = None

    def __post_init__(self):
        opt = self.optimizer
        if isinstance(opt, str):
            opt = canonical_optimizer(opt)
            if opt not in OPTIMIZER_NAMES:
                raise UsageError(f"unknown optimizer '{self.optimizer}' (choose from "
                                 f"{', '.join(OPTIMIZER_NAMES)})")
            opt = None if opt == "none" else opt
        elif opt is not None and not isinstance(opt, OptimizerSpec):
            raise UsageError(f"optimizer must be a name or an OptimizerSpec, got "
                             f"{type(opt).__name__}")
        object.__setattr__(self, "optimizer", opt)
        object.__setattr__(self, "freeze", tuple(freeze_patterns(self.freeze)))
        object.__setattr__(self, "foreach", bool(self.foreach))

    @property
    def optimizer_name(self) -> str:
        """The optimizer's name ("none" without one; an OptimizerSpec's own name)."""
        opt = self.optimizer
        return "none" if opt is None else opt.name if isinstance(opt, OptimizerSpec) else opt

    # freezing ----------------------------------------------------------------
    def freeze_parameters(self, model: nn.Module, params: dict[str, torch.Tensor] | None = None
                          ) -> None:
        """``requires_grad=False`` on the parameters (``params``: name -> the tensor the step
        uses; default the model's own) of each module or parameter whose path matches a
        pattern (fnmatch: ``conv1``, ``conv2*``, ``inception3?``). A pattern matching
        nothing is a UsageError."""
        if params is None:
            params = dict(model.named_parameters(remove_duplicate=False))
        modules = [n for n, _ in model.named_modules(remove_duplicate=False) if n]
        for pat in self.freeze:
            hit = False
            for mname in modules:
                if fnmatch.fnmatchcase(mname, pat):
                    hit = True
                    for pname, p in params.items():
                        if pname.startswith(mname + "."):
                            p.requires_grad_(False)
            for pname, p in params.items():
                if fnmatch.fnmatchcase(pname, pat):
                    p.requires_grad_(False)
                    hit = True
            if not hit:
                raise UsageError(f"freeze pattern '{pat}' matches no module or parameter")

    # the loss ----------------------------------------------------------------
    def loss_value(self, out, outputs: list[torch.Tensor] | None,
                   target: torch.Tensor | None = None) -> torch.Tensor:
        """The step's loss: ``loss(out)`` when given, else :func:`default_loss` of
        ``outputs`` (main first) with :attr:`aux_weight`."""
        if self.loss is not None:
            return self.loss(out)
        return default_loss(outputs, self.aux_weight, target)

    # the optimizer -----------------------------------------------------------
    def make_optimizer(self, params) -> torch.optim.Optimizer | None:
        """The ``torch.optim`` optimizer over the parameters that require a gradient, with
        the implementation :attr:`foreach` names (explicitly: on meta tensors torch would
        always pick the per-parameter loop); None without an optimizer."""
        opt = self.optimizer
        if opt is None:
            return None
        params = [p for p in params if p.requires_grad]
        if isinstance(opt, OptimizerSpec):
            kwargs = dict(opt.torch_kwargs(), foreach=self.foreach)
            return opt.torch_class()(params, **kwargs)
        cls, kwargs = _TORCH_OPTIMIZERS[opt]
        return getattr(torch.optim, cls)(params, **kwargs, foreach=self.foreach)

    def steady_optimizers(self, owned: dict[str, list[torch.Tensor]]
                          ) -> dict[str, torch.optim.Optimizer]:
        """{module path: this program's optimizer over that module's parameters that
        require a gradient} (``owned``: module path -> the parameter tensors it owns), each
        in its steady state: its state buffers created by one step on zero gradients, the
        gradients then dropped (every step after the first). One optimizer per module, so
        that every op of the step belongs to one module: the per-parameter loop (foreach
        off) runs the same ops whether the parameters share one optimizer or not; a
        multi-tensor step runs the same per-element work in fewer, per-module calls.
        Empty without an optimizer."""
        if self.optimizer is None:
            return {}
        from .engine import MetaFastMode
        out = {}
        with torch.no_grad(), MetaFastMode():
            for mname, tensors in owned.items():
                trainable = [p for p in tensors if p.requires_grad]
                if not trainable:
                    continue
                opt = self.make_optimizer(trainable)
                for p in trainable:
                    p.grad = torch.zeros_like(p)
                opt.step()
                opt.zero_grad(set_to_none=True)
                out[mname] = opt
        return out
