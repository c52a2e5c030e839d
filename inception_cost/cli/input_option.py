"""``--input`` and ``--dtype``: any model input from the command line.

One ``--input`` per argument of the model's forward, in order; ``NAME=...`` passes
a keyword argument. Each is colon-separated fields in any order after an optional
label:

* a shape, with or without the batch: ``784``, ``1x784``, ``3x224x224``,
  ``8x3x224x224`` (``x``, ``×`` or ``,`` between sizes);
* a dtype: ``float32`` (default), ``float16``, ``bfloat16``, ``float64``, ``int64``,
  ``int32``, ``bool`` (also ``fp32``, ``fp16``, ``bf16``, ``long``, ``int``);
* for integer inputs, the value range ``LOW..HIGH`` (HIGH excluded, as Python's
  ``range``; default ``0..1``, all zeros): ``ids:int64:1x128:0..30522``.

Whether the shapes include the batch is decided by the first ``--input``: for a
model whose first layer is a convolution, a shape with one size more than a sample
(Conv2d: C x H x W, 3 sizes) includes it; for other models a shape of two sizes or
more does (``784`` is one sample, ``1x784`` and ``1x1x128x768`` carry the batch), except
three sizes, which stay one C x H x W image as every option has always read them (a
model that flattens an image: ``1x28x28``; a batched sequence ``NxLxD``: give
``--batch N --input LxD``).
Otherwise ``--batch`` (default 1; 32 for a training step) is prepended.
All ``--input`` shapes are read the same way. On the meta device tensors have no
values; on ``--device cpu`` floats are ``randn`` (seed 0) and integers uniform in
their range.
"""
from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import UsageError
from .limits import sci

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
          "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float64": torch.float64, "fp64": torch.float64, "double": torch.float64,
          "int64": torch.int64, "long": torch.int64, "int32": torch.int32, "int": torch.int32,
          "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool}
FLOAT_DTYPES = ("fp32", "fp16", "bf16", "fp64")
_SHAPE = re.compile(r"^\d+(\s*[x×,]\s*\d+)*$")
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_BYTES = 2**63 - 1


@dataclass(frozen=True)
class InputSpec:
    """One parsed ``--input``: shape as given (sizes in elements), dtype, value range
    [low, high) for integers, keyword name (None: positional) and label."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    low: int = 0
    high: int = 1
    keyword: str | None = None
    label: str | None = None
    dtype_given: bool = False

    def describe(self, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> str:
        """'ids:1x128 int64'; ``dtype``: the tensor's own when ``--dtype`` changed it."""
        name = f"{self.keyword}=" if self.keyword else (f"{self.label}:" if self.label else "")
        dtype = dtype or self.dtype
        dt = "" if dtype == torch.float32 else f" {str(dtype).replace('torch.', '')}"
        return f"{name}{'x'.join(map(str, shape))}{dt}"


def parse_input(text: str) -> InputSpec:
    """'[NAME=][LABEL:]SHAPE[:DTYPE][:LOW..HIGH]' (fields in any order) -> InputSpec."""
    raw = str(text).strip()
    keyword = None
    if "=" in raw:
        keyword, _, raw = raw.partition("=")
        keyword = keyword.strip()
        if not _NAME.match(keyword):
            raise UsageError(f"--input '{text}': '{keyword}' is not an argument name")
        if not raw.strip():
            raise UsageError(f"--input '{text}': keyword input '{keyword}' has no shape "
                             "(e.g. {0}=1x128:int64)".format(keyword))
    shape = dtype = rng = label = None
    for field in (f.strip() for f in raw.split(":")):
        if not field:
            raise UsageError(f"--input '{text}': empty field")
        if _SHAPE.match(field) and shape is None:
            shape = tuple(int(v) for v in re.split(r"\s*[x×,]\s*", field))
        elif field.lower() in DTYPES and dtype is None:
            dtype = DTYPES[field.lower()]
        elif _RANGE.match(field) and rng is None:
            lo, hi = (int(v) for v in _RANGE.match(field).groups())
            rng = (lo, hi)
        elif _NAME.match(field) and label is None and shape is None and keyword is None:
            label = field
        else:
            raise UsageError(f"--input '{text}': cannot read '{field}' (expected a shape such "
                             "as 1x128, a dtype such as int64, or a range such as 0..30522)")
    if shape is None:
        raise UsageError(f"--input '{text}' has no shape (e.g. 3x224x224, 784 or 1x128:int64)")
    if min(shape) <= 0:
        raise UsageError(f"--input '{text}': sizes must be positive")
    dt = dtype or torch.float32
    if rng is not None:
        if dt.is_floating_point or dt == torch.bool:
            raise UsageError(f"--input '{text}': a value range applies to integer inputs "
                             "(add a dtype such as int64)")
        if rng[1] <= rng[0]:
            raise UsageError(f"--input '{text}': range {rng[0]}..{rng[1]} is empty "
                             "(LOW..HIGH, HIGH excluded)")
    lo, hi = rng or (0, 1)
    return InputSpec(shape, dt, lo, hi, keyword, label, dtype is not None)


def parse_dtype(text: str | None) -> torch.dtype | None:
    """``--dtype`` of the model and of its float inputs (None: as built, float32)."""
    if text is None:
        return None
    key = text.strip().lower()
    if key not in DTYPES or not DTYPES[key].is_floating_point:
        raise UsageError(f"unknown --dtype '{text}' (choose from {', '.join(FLOAT_DTYPES)})")
    return DTYPES[key]


def input_options(f):
    """``--input`` (repeatable) and ``--dtype`` on a command: the shared definitions of
    :mod:`inception_cost.cli.options`."""
    from .options import dtype_option, input_option
    f = dtype_option(", ".join(FLOAT_DTYPES), None, "The model and its float inputs.")(f)
    return input_option()(f)


def batch_for(batch: int | None, specs: list[InputSpec], model: nn.Module, training: bool,
              example=None) -> int | None:
    """``--batch`` as given; else None where the inputs carry the batch (a batched
    ``--input``, a factory's example inputs); else the mode's default batch (1 for
    inference, 32 for a training step: :func:`inception_cost.cli.options.default_batch`)."""
    from .options import default_batch
    if batch is not None:
        return batch
    if specs:
        return None if full_shapes(specs, model, None)[0] == specs[0].shape else \
            default_batch(training)
    return None if example is not None else default_batch(training)


def unbatched_rank(model: nn.Module) -> int | None:
    """Dimensions of one sample for the model's first layer (Conv2d 3, Conv1d 2, Conv3d 4,
    Linear / Embedding 1); None when it has none of these."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return 1 + len(m.kernel_size)
        if isinstance(m, (nn.Linear, nn.Embedding, nn.EmbeddingBag)):
            return 1
    return None


@dataclass
class Call:
    """One forward call: positional and keyword tensors, and how to print them."""

    args: tuple
    kwargs: dict
    text: str
    batch: int

    @property
    def inputs(self):
        """For ``count(..., inputs=)``: positional tensors, keyword dict, or both."""
        if self.kwargs and self.args:
            return (self.args, self.kwargs)
        return dict(self.kwargs) if self.kwargs else tuple(self.args)


def full_shapes(specs: list[InputSpec], model: nn.Module, batch: int | None) -> list[tuple[int, ...]]:
    """Every input's full shape. The first input decides whether the shapes carry the
    batch: for a model whose first layer is a convolution, when it has one size more
    than a sample (C x H x W for Conv2d); otherwise when it has two sizes or more, except
    three (one C x H x W image, the CLI's reading of --input everywhere)."""
    rank = unbatched_rank(model)
    conv = rank is not None and rank > 1
    first = specs[0].shape
    if conv and len(specs) == 1 and len(first) not in (rank, rank + 1):
        what = {3: "CxHxW (or NxCxHxW)", 2: "C x L (or N x C x L)"}.get(
            rank, f"{rank} sizes (or {rank + 1} with the batch)")
        raise UsageError(f"--input '{'x'.join(map(str, first))}': this model's first layer "
                         f"takes {what}, e.g. {'3x224x224' if rank == 3 else '16x100'}")
    has_batch = len(first) == rank + 1 if conv else len(first) > 1 and len(first) != 3
    if has_batch:
        if batch is not None and any(s.shape[0] != batch for s in specs):
            raise UsageError(f"--batch {batch} disagrees with --input {specs[0].describe(first)} "
                             "(its first size is the batch): give one of them")
        return [s.shape for s in specs]
    return [(batch or 1, *s.shape) for s in specs]


def make_call(specs: list[InputSpec], model: nn.Module, batch: int | None, device: str,
              dtype: torch.dtype | None = None, shapes: list[tuple[int, ...]] | None = None) -> Call:
    """Tensors for ``specs`` (on ``device``; meta has no values), checked against the
    signature of ``model.forward``. ``shapes``: the full shapes (default: read from
    ``specs`` and ``batch``, see :func:`full_shapes`)."""
    shapes = shapes or full_shapes(specs, model, batch)
    g = torch.Generator().manual_seed(0)
    if dtype is None:       # no --dtype: float inputs follow the model (a .half() model: fp16)
        from ..counting.inputs import float_dtype
        dtype = float_dtype(model)
    args, kwargs, parts = [], {}, []
    for s, shape in zip(specs, shapes):
        dt = dtype if (dtype is not None and s.dtype.is_floating_point and not s.dtype_given) \
            else s.dtype
        n = math.prod(shape)
        if n * torch.empty((), dtype=dt).element_size() > MAX_BYTES:
            raise UsageError(f"--input {s.describe(shape)} is too large: {sci(n)} elements, more "
                             "than one tensor can hold (2^63 - 1 bytes); use a smaller --batch "
                             "or --input")
        if device == "meta":
            t = torch.empty(shape, dtype=dt, device="meta")
        elif dt.is_floating_point:
            t = torch.randn(shape, generator=g).to(dt)
        elif dt == torch.bool:
            t = torch.zeros(shape, dtype=dt)
        else:
            t = torch.randint(s.low, s.high, shape, generator=g, dtype=dt)
        if s.keyword:
            if s.keyword in kwargs:
                raise UsageError(f"--input names '{s.keyword}' twice")
            kwargs[s.keyword] = t
        else:
            if kwargs:
                raise UsageError("positional --input after a keyword --input: give the "
                                 "positional ones first")
            args.append(t)
        parts.append(s.describe(shape, dt))
    check_signature(model, args, kwargs)
    return Call(tuple(args), kwargs, ", ".join(parts), shapes[0][0])


def signature_text(model: nn.Module) -> str:
    """'Net.forward(x, attention_mask=None)'."""
    try:
        return f"{type(model).__name__}.forward{inspect.signature(model.forward)}"
    except (TypeError, ValueError):
        return f"{type(model).__name__}.forward(...)"


def rejected(error, inputs_text: str, model: nn.Module) -> UsageError:
    """A forward that failed on the ``--input`` given, as one line that shows the inputs
    and the signature they were passed to."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return UsageError(f"{first} (inputs: {inputs_text}; {signature_text(model)})")


def check_signature(model: nn.Module, args, kwargs) -> None:
    """UsageError naming the argument when the inputs cannot bind to ``model.forward``."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return
    params = sig.parameters.values()
    if not any(p.kind == p.VAR_KEYWORD for p in params):
        names = {p.name for p in params if p.kind != p.VAR_POSITIONAL}
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            raise UsageError(f"--input {unknown[0]}=...: {signature_text(model)} has no argument "
                             f"'{unknown[0]}'")
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        raise UsageError(f"--input does not fit {signature_text(model)}: {e}") from None


def default_call(model: nn.Module, size: tuple[int, ...], batch: int | None, device: str,
                 dtype: torch.dtype | None = None, example=None) -> Call:
    """The call without ``--input``: a factory's example inputs, else the model's own
    input size (C x H x W) at ``--batch``."""
    if example is not None:
        if isinstance(example, torch.Tensor):
            example = (example,)
        args = tuple(example) if isinstance(example, (tuple, list)) else ()
        kwargs = dict(example) if isinstance(example, dict) else {}
        specs = [InputSpec(tuple(t.shape), t.dtype, keyword=None) for t in args] + \
                [InputSpec(tuple(t.shape), t.dtype, keyword=k) for k, t in kwargs.items()]
        if batch is not None and batch != (specs[0].shape[0] if specs else batch):
            raise UsageError(f"--batch {batch} disagrees with the factory's example inputs "
                             f"(batch {specs[0].shape[0]}); give --input to change the shape")
        to = (lambda t: torch.empty_like(t, device="meta")) if device == "meta" else (lambda t: t)
        args = tuple(to(t) for t in args)
        kwargs = {k: to(t) for k, t in kwargs.items()}
        text = ", ".join(s.describe(s.shape) for s in specs)
        return Call(args, kwargs, text, specs[0].shape[0] if specs else 1)
    shape = (batch or 1, *size)
    return make_call([InputSpec(shape)], model, None, device, dtype, shapes=[shape])


def per_sample(specs: list[InputSpec], model: nn.Module, batch: int | None
               ) -> tuple[list[tuple[InputSpec, tuple[int, ...]]], int | None]:
    """([(spec, shape without the batch)], the batch the shapes carry or None), read as
    every command reads ``--input`` (:func:`full_shapes`), checked against the model's
    forward on the meta device. For commands that sweep the batch (``profile``)."""
    shapes = full_shapes(specs, model, batch)
    carried = shapes[0][0] if len(shapes[0]) == len(specs[0].shape) else None
    make_call(specs, model, batch, "meta", shapes=shapes)       # sizes and signature
    return [(s, tuple(shape[1:])) for s, shape in zip(specs, shapes)], carried
