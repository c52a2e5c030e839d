"""What is run under the tracker: an inference forward, or one training step
(forward in train mode, loss, backward, optimizer.step()).

The same functions drive our ``StorageTracker`` and the MemTracker reference, so both see
exactly the same program.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import UsageError
from ..counting.step_program import StepProgram
from ..counting.output_tensors import output_tensors

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
          "amp": torch.float32}
AMP_DTYPE = torch.float16            # autocast's lower precision for dtype="amp"
OPTIMIZERS = ("none", "sgd", "momentum", "sgd_nesterov", "adam", "adamw", "rmsprop", "adagrad")
STEPS = ("steady", "first")
DEVICES = ("cuda", "cpu")   # target devices: what PyTorch would run there by default


@dataclass(frozen=True)
class InputTemplate:
    """One forward argument without its batch: ``keyword`` (None: positional), the
    per-sample ``size`` (elements per dimension) and ``dtype`` (None: the step's dtype,
    a float)."""
    keyword: str | None
    size: tuple[int, ...]
    dtype: torch.dtype | None = None


def input_templates(inputs) -> tuple[int, tuple[InputTemplate, ...]]:
    """``inputs`` as :func:`inception_cost.count` takes them (a tensor, a tuple of
    tensors, a dict of keyword tensors, or (tuple, dict)) -> (batch, templates). The
    first size of every tensor is the batch."""
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    if (isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], (tuple, list))
            and isinstance(inputs[1], dict)):
        pairs = [(None, t) for t in inputs[0]] + list(inputs[1].items())
    elif isinstance(inputs, dict):
        pairs = list(inputs.items())
    elif isinstance(inputs, (tuple, list)):
        pairs = [(None, t) for t in inputs]
    else:
        raise UsageError(f"inputs must be a tensor, a tuple of tensors or a dict of tensors, "
                         f"got {type(inputs).__name__}")
    if not pairs or any(not isinstance(t, torch.Tensor) or t.dim() < 1 for _, t in pairs):
        raise UsageError("inputs must be tensors with a batch dimension")
    batches = {int(t.shape[0]) for _, t in pairs}
    if len(batches) != 1:
        raise UsageError(f"inputs disagree on the batch (first sizes {sorted(batches)})")
    temps = tuple(InputTemplate(k, tuple(int(v) for v in t.shape[1:]),
                                None if t.dtype.is_floating_point else t.dtype)
                  for k, t in pairs)
    return batches.pop(), temps


@dataclass(frozen=True)
class StepConfig:
    """One analysed program.  ``step``: 'steady' = optimizer state exists before the step
    (every step after the first), 'first' = state created lazily inside this step."""
    batch: int
    input_size: tuple[int, int, int]
    training: bool = False
    optimizer: str = "none"
    dtype: str = "fp32"
    step: str = "steady"
    device: str = "cuda"
    foreach: bool | None = None
    workspace: bool = True     # add kernel workspace (workspace.py) where modelled
    inputs: tuple[InputTemplate, ...] = ()   # several or non-float inputs (else input_size)
    freeze: tuple[str, ...] = ()   # module/parameter path patterns without gradient

    def __post_init__(self):
        check_options(self.dtype, self.optimizer, self.step, self.batch)
        if self.device not in DEVICES:
            raise UsageError(f"unknown device '{self.device}' (choose from "
                             f"{', '.join(DEVICES)})")

    @property
    def uses_foreach(self) -> bool:
        """The optimizer implementation: ``foreach`` if given, else PyTorch's default on the
        target device (multi-tensor on CUDA, the per-parameter loop on CPU)."""
        return self.device == "cuda" if self.foreach is None else bool(self.foreach)

    @property
    def program(self) -> StepProgram:
        """The training step's loss, freezing and optimizer: the program ``count_training``
        runs, with this configuration's optimizer and implementation."""
        return StepProgram(optimizer=self.optimizer, foreach=self.uses_foreach,
                           freeze=self.freeze)


def check_options(dtype: str, optimizer: str, step: str = "steady", batch: int = 1) -> None:
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype '{dtype}' (choose from {', '.join(DTYPES)})")
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer '{optimizer}' (choose from {', '.join(OPTIMIZERS)})")
    if step not in STEPS:
        raise UsageError(f"unknown step '{step}' (choose from {', '.join(STEPS)})")
    if not isinstance(batch, int) or batch <= 0:
        raise UsageError(f"batch must be a positive integer (got {batch})")


def make_optimizer(name: str, params, foreach: bool = True) -> torch.optim.Optimizer | None:
    """torch.optim with its defaults (the learning rate does not change bytes) and the
    implementation ``foreach`` names explicitly: True = multi-tensor (torch's default on
    CUDA; its temporaries are whole lists of tensors), False = the per-parameter loop
    (torch's default on CPU; temporaries one parameter at a time).  Named explicitly
    because on meta tensors torch would always pick the loop."""
    if name not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer '{name}' (choose from {', '.join(OPTIMIZERS)})")
    return StepProgram(optimizer=name, foreach=foreach).make_optimizer(params)


def warm_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """Create the optimizer's lazy state the way a first step does (zero gradients, one
    step), then drop the gradients: the state of every later step."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def cast(model: nn.Module, dtype: str) -> nn.Module:
    """The model in ``dtype`` ('bf16'/'fp16' cast floating parameters and buffers; others
    leave it as it is).  A model already in that dtype is not touched: ``Module.to`` cannot
    swap the parameters of a model on fake tensors, so the cast is done on meta first."""
    target = DTYPES[dtype]
    if dtype in ("bf16", "fp16") and any(t.is_floating_point() and t.dtype != target
                                         for t in (*model.parameters(), *model.buffers())):
        model = model.to(target)
    return model


def prepare_model(model: nn.Module, cfg: StepConfig) -> nn.Module:
    return cast(model, cfg.dtype).train(cfg.training)


def make_batch(cfg: StepConfig, device) -> tuple[tuple, dict, torch.Tensor | None]:
    """(positional inputs, keyword inputs, targets or None) of one step."""
    args, kwargs = [], {}
    for t in cfg.inputs or (InputTemplate(None, tuple(cfg.input_size)),):
        shape = (cfg.batch, *t.size)
        x = (torch.randn(shape, device=device, dtype=DTYPES[cfg.dtype]) if t.dtype is None
             else torch.zeros(shape, device=device, dtype=t.dtype))
        if t.keyword:
            kwargs[t.keyword] = x
        else:
            args.append(x)
    target = torch.randint(0, 2, (cfg.batch,), device=device) if cfg.training else None
    return tuple(args), kwargs, target


def outputs(out) -> list[torch.Tensor]:
    """The logits a model returned, main first: a tensor, or (main, aux...)
    tuples/namedtuples, or a dict's tensors with ``"out"`` first, as ``train`` reads them
    (:func:`~inception_cost.counting.output_tensors.output_tensors`)."""
    if isinstance(out, (torch.Tensor, tuple, list, dict)):
        return output_tensors(out, main_first=True)
    raise UsageError(f"model returned {type(out).__name__}; expected a tensor or a tuple of "
                     "tensors")


def loss_of(out, target: torch.Tensor, program: StepProgram | None = None) -> torch.Tensor:
    """The step program's loss (default: cross-entropy on the main logits plus 0.3 x each
    auxiliary head's cross-entropy, logits flattened to N x classes)."""
    logits = outputs(out)
    if not logits:
        raise UsageError(f"model returned {type(out).__name__} with no tensor in it; a "
                         "training step needs logits (N x classes)")
    for t in logits:
        if not (t.is_floating_point() or t.is_complex()):
            raise UsageError(f"model returned a tensor of dtype {str(t.dtype).replace('torch.', '')}; "
                             "a training step needs floating-point logits (N x classes)")
        if t.dim() < 2:
            raise UsageError(f"model returned a {t.dim()}-d tensor of shape "
                             f"{tuple(int(s) for s in t.shape)}; a training step needs logits "
                             "with a batch and a class dimension (N x classes)")
    return (program or StepProgram()).loss_value(out, logits, target)


def autocast(cfg: StepConfig, device_type: str):
    if cfg.dtype == "amp":
        return torch.autocast(device_type, dtype=AMP_DTYPE)
    import contextlib
    return contextlib.nullcontext()
