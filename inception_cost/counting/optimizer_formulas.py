"""Optimizer-step cost: FLOPs per parameter element of one ``optimizer.step()``.

Every formula counts the steady-state step (state buffers already exist), the
single-tensor implementation ``torch.optim.X(foreach=False)`` runs, one FLOP per
arithmetic operation on one element (transcendentals such as ``sqrt`` count 1).
Optimizers do no multiply-accumulates in the MAC sense: their MACs are 0.

Per-op weights (``OPTIMIZER_OP_FLOPS``) used to derive and to check the formulas
against the ops the real optimizer dispatches:

==================================  =======================================
``add(a, b, alpha)`` / ``sub``       1 per element, 2 when ``alpha != 1``
``mul``, ``div``, ``sqrt``,          1 per element
``maximum``, ``neg``
``lerp(a, b, w)``                    3 per element (a + w * (b - a))
``addcmul(a, b, c, value)``,         2 per element, 3 when ``value != 1``
``addcdiv``
``clone``, ``copy_``, ``zeros_like``  0 (data movement)
==================================  =======================================

Per-element formulas (``E`` FLOPs per parameter element, ``T`` per parameter tensor):

==============================  ===  ==  ==============================================
optimizer                       E    T   ops per element
==============================  ===  ==  ==============================================
sgd                             2    0   p.add_(g, alpha=-lr)
sgd + weight decay              +2   0   g = g.add(p, alpha=wd)
sgd + momentum (dampening 0)    +2   0   buf.mul_(m).add_(g)  (dampening != 0: +3)
sgd + nesterov                  +2   0   g = g.add(buf, alpha=m)
adam                            13   1   m.lerp_(g, 1-b1) 3; v.mul_(b2) 1;
                                         v.addcmul_(g, g, value=1-b2) 3; v.sqrt() 1;
                                         / sqrt(bc2) 1; .add_(eps) 1;
                                         p.addcdiv_(m, denom, value=-step) 3;
                                         T: the step counter ``step += 1``
adam + weight decay (L2)        +2   0   g = g.add(p, alpha=wd)
adamw (decoupled decay)         14   1   adam + p.mul_(1 - lr*wd) 1
==============================  ===  ==  ==============================================

Bytes moved by a step (:meth:`OptimizerSpec.step_bytes`): every op reads each tensor
operand and writes its result (the convention of :mod:`inception_cost.counting.bytes_moved`),
so a step moves :attr:`OptimizerSpec.accesses_per_element` element accesses per parameter
element -- sgd 3 (p.add_: p, g -> p), +3 weight decay, +5 momentum (mul_ 2, add_ 3),
+3 nesterov; adam 19 (lerp_ 3, mul_ 2, addcmul_(g, g) 4, sqrt 2, div 2, add_ 2,
addcdiv_ 4), +3 L2 decay, adamw +2 (p.mul_) -- at the parameter's element size, plus
8 bytes per tensor for Adam's float32 step counter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError
from .registry import Cost

OPTIMIZERS = ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw")
"""Names accepted by ``optimizer=`` / ``--optimizer``."""


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer configuration. ``weight_decay`` for sgd/adam is the L2 term added
    to the gradient; for adamw it is the decoupled decay (default 1e-2, as torch)."""

    name: str = "sgd"
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    @property
    def per_element(self) -> int:
        """FLOPs per parameter element of one steady-state step."""
        if self.name == "sgd":
            e = 2
            if self.weight_decay:
                e += 2
            if self.momentum:
                e += 2 + (1 if self.dampening else 0)
                if self.nesterov:
                    e += 2
            return e
        if self.name == "adam":
            return 13 + (2 if self.weight_decay else 0)
        if self.name == "adamw":
            return 13 + (1 if self.weight_decay else 0)
        raise UsageError(f"unknown optimizer '{self.name}'")

    @property
    def accesses_per_element(self) -> int:
        """Element reads + writes per parameter element of one steady-state step (each
        op reads every tensor operand and writes its result, see
        :mod:`inception_cost.counting.bytes_moved`); times the element size = bytes."""
        if self.name == "sgd":
            e = 3                                   # p.add_(g): read p, g; write p
            if self.weight_decay:
                e += 3                              # g.add(p): read g, p; write g'
            if self.momentum:
                e += 2 + 3                          # buf.mul_(m); buf.add_(g)
                if self.nesterov:
                    e += 3                          # g.add(buf)
            return e
        if self.name in ("adam", "adamw"):
            # lerp_ 3, mul_ 2, addcmul_(g, g) 4, sqrt 2, div 2, add_ 2, addcdiv_ 4
            e = 19
            if self.weight_decay:
                e += 3 if self.name == "adam" else 2   # g.add(p) / p.mul_(1 - lr*wd)
            return e
        raise UsageError(f"unknown optimizer '{self.name}'")

    @property
    def bytes_per_tensor(self) -> int:
        """Bytes per parameter tensor: Adam's float32 step counter, read and written."""
        return 8 if self.name in ("adam", "adamw") else 0

    def step_bytes(self, numel: int, itemsize: int) -> int:
        """Bytes moved by one step for a parameter tensor of ``numel`` elements of
        ``itemsize`` bytes (its gradient and state buffers of the same dtype)."""
        return self.accesses_per_element * int(numel) * int(itemsize) + self.bytes_per_tensor

    @property
    def per_tensor(self) -> int:
        """FLOPs per parameter tensor (Adam's step counter)."""
        return 1 if self.name in ("adam", "adamw") else 0

    def step_flops(self, numel: int) -> int:
        """FLOPs of one step for a parameter tensor of ``numel`` elements."""
        return self.per_element * int(numel) + self.per_tensor

    def torch_kwargs(self) -> dict:
        """Keyword arguments of the matching ``torch.optim`` class (foreach=False)."""
        if self.name == "sgd":
            return dict(lr=0.1, momentum=self.momentum, dampening=self.dampening,
                        nesterov=self.nesterov, weight_decay=self.weight_decay, foreach=False)
        return dict(lr=1e-3, weight_decay=self.weight_decay, foreach=False)

    def torch_class(self):
        import torch
        return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[self.name]


def optimizer_spec(optimizer) -> OptimizerSpec | None:
    """``None``/"none" -> no optimizer; a name from :data:`OPTIMIZERS`; or an OptimizerSpec."""
    if optimizer is None or isinstance(optimizer, OptimizerSpec):
        return optimizer
    name = str(optimizer).strip().lower()
    presets = {
        "none": None,
        "sgd": OptimizerSpec("sgd"),
        "sgd_momentum": OptimizerSpec("sgd", momentum=0.9),
        "sgd_nesterov": OptimizerSpec("sgd", momentum=0.9, nesterov=True),
        "adam": OptimizerSpec("adam"),
        "adamw": OptimizerSpec("adamw", weight_decay=1e-2),
    }
    if name not in presets:
        raise UsageError(f"unknown optimizer '{optimizer}' (choose from {', '.join(OPTIMIZERS)} or none)")
    return presets[name]


def _alpha_cost(args, kwargs, alpha_pos: int, name: str = "alpha") -> int:
    alpha = kwargs.get(name, args[alpha_pos] if len(args) > alpha_pos else 1)
    return 1 if alpha == 1 else 2


def optimizer_op_flops(op: str, args: tuple, kwargs: dict, out_numel: int) -> int:
    """FLOPs of one op an optimizer dispatches, by the weights in the module table
    (``op`` is the aten overload-packet name, in-place suffix allowed)."""
    base = op.rstrip("_")
    if base in ("add", "sub"):
        return out_numel * _alpha_cost(args, kwargs, 2)
    if base in ("mul", "div", "sqrt", "maximum", "neg"):
        return out_numel
    if base == "lerp":
        return 3 * out_numel
    if base in ("addcmul", "addcdiv"):
        return out_numel * (1 + _alpha_cost(args, kwargs, 3, "value"))
    if base in ("clone", "copy", "zeros_like", "detach", "empty_like", "_to_copy", "alias"):
        return 0
    raise KeyError(op)


_OPTIMIZER_OP_NAMES = ("add", "sub", "mul", "div", "sqrt", "maximum", "neg", "lerp", "addcmul",
                       "addcdiv", "clone", "copy", "zeros_like")
"""The ops ``optimizer_op_flops`` weighs (each also in place, and as a ``_foreach_`` op)."""

_MARKERS = ("_record_function_enter", "_record_function_enter_new", "_record_function_exit")
"""Profiler markers ``optimizer.step()`` dispatches around its work (no arithmetic)."""


def _elements(value) -> int:
    """Elements of a tensor, or summed over a list of tensors (or of their shapes)."""
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, int) for v in value):
            return math.prod(value)               # a shape
        return sum(_elements(v) for v in value)
    return int(value.numel()) if hasattr(value, "numel") else 0


def _optimizer_formula(name: str):
    """The cost (:class:`~.registry.Cost`, FLOPs, 0 MACs) of a dispatched call of ``name``
    inside ``optimizer.step()``. A ``_foreach_`` op is the same op over each tensor of its
    first list (its elements summed)."""
    base = name[len("_foreach_"):] if name.startswith("_foreach_") else name

    def cost(call) -> Cost:
        if name.startswith("_foreach_"):
            numel = _elements(call.args[0])
        elif call.out_shapes and call.out_shapes[0] is not None:
            numel = call.out_numel
        else:
            numel = 0
        return Cost(0, optimizer_op_flops(base, call.args, call.kwargs, numel))
    return cost


def optimizer_ops() -> dict:
    """{aten op packet: formula} of every op costed by :func:`optimizer_op_flops` while
    an optimizer steps (plain, in place, ``_foreach_``; profiler markers cost 0). An op
    missing from ``torch.ops.aten`` is left out."""
    import torch

    table: dict = {}
    for base in _OPTIMIZER_OP_NAMES:
        for name in (base, base + "_", "_foreach_" + base, "_foreach_" + base + "_"):
            packet = getattr(torch.ops.aten, name, None)
            if packet is not None and hasattr(packet, "overloads"):
                table[packet] = _optimizer_formula(name)
    for name in _MARKERS:
        packet = getattr(torch.ops.profiler, name, None)
        if packet is not None:
            table[packet] = lambda call: Cost(0, 0)
    return table
