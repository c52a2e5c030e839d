"""``count_training(model, ...)``: exact MACs and FLOPs of one training step, per layer.

One step is the forward pass in training mode (batch statistics, dropout active),
the loss, ``loss.backward()`` and the optimizer step, all run on the meta device
under the same dispatch-level counter as :func:`inception_cost.count`.

* Forward ops are attributed to the innermost module running, as in ``count``.
* Backward ops are attributed through autograd: during the forward pass every
  autograd node is mapped to the module that created it
  (:mod:`.autograd_map`); during ``loss.backward()`` the node being executed names
  the module. Each backward op's cost is *input-gradient* work (dL/d activation,
  what the previous layer needs) or *weight-gradient* work (dL/d parameter, given to
  the module that owns the parameter); ops with an ``output_mask``
  (``convolution_backward``, the norms' backward) are split by their formulas
  (:mod:`.backward_formulas`), or by a per-call ``formulas=`` entry's ``split``.
* The optimizer step is the step program's ``torch.optim`` optimizer
  (:mod:`.step_program`, per-parameter loop) stepping once in its steady state on the
  gradients the backward left, under a counter of its own (phase "optimizer"; so that
  :func:`count_training_each` counts one forward and backward for several optimizers);
  each op it dispatches is costed by the per-op weights of :mod:`.optimizer_formulas`
  and given to the module owning the parameter. The closed per-element formulas there
  are the tests' oracle.

Units: MACs (multiply-accumulates, bias excluded), FLOPs (floating-point operations:
2 x MACs + the documented element-wise work), params (elements), bytes (bytes moved: every
tensor an op reads and writes, see :mod:`.bytes_moved`; a backward op that computes both
gradients, such as ``convolution_backward``, has its bytes shared between them in
proportion to their FLOPs, the input gradient's share rounded down -- as ``predict``
does; the optimizer's bytes by :meth:`.OptimizerSpec.step_bytes`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch
import torch.nn as nn
from torch.func import functional_call

from ..errors import UsageError
from .training_loss import AUX_LOSS_WEIGHT
from .arguments import (check_aux_weight, check_device, check_formulas, check_freeze, check_loss,
                        check_name)
from . import backward_registry as _backward_registry  # noqa: F401 - registers backward formulas
from .autograd_map import LOSS_MODULE, NodeMap
from .api import meta_value_error, reads_values
from .engine import counting
from .model_errors import (BackwardError, ForwardError, model_backward,  # noqa: F401
                           model_forward, model_loss)   # BackwardError public here
from .frames import exact_counts
from .inputs import make_inputs, tensor_shapes
from .optimizer_formulas import OptimizerSpec, optimizer_spec
from .step_program import (StepProgram, default_loss, freeze_patterns,  # noqa: F401 - public names
                           step_outputs)
from .placement import copy_on, unwrap
from .registry import GradCost, RegistryError, overrides


TRAINING_COLUMNS = [
    "module", "module_type", "params", "trainable", "fwd_macs", "fwd_flops",
    "bwd_input_macs", "bwd_input_flops", "bwd_weight_macs", "bwd_weight_flops",
    "bwd_macs", "bwd_flops", "opt_flops", "step_macs", "step_flops", "aux",
    "fwd_bytes", "bwd_input_bytes", "bwd_weight_bytes", "bwd_bytes", "opt_bytes", "step_bytes",
]
"""Per-layer columns. Counts: params/trainable (elements), *_macs (MACs), *_flops (FLOPs),
*_bytes (bytes moved). ``bwd_* = bwd_input_* + bwd_weight_*``; ``step_macs = fwd_macs +
bwd_macs``; ``step_flops = fwd_flops + bwd_flops + opt_flops`` (and so for bytes);
``aux``: the layer belongs to a training-only head (its output reaches the loss only
through an auxiliary output)."""

BYTES_COLUMNS = ["fwd_bytes", "bwd_input_bytes", "bwd_weight_bytes", "bwd_bytes", "opt_bytes",
                 "step_bytes"]
"""The bytes-moved columns (absent from training baselines written before they existed)."""

COUNTS = [c for c in TRAINING_COLUMNS if c not in ("module", "module_type", "aux")]
OP_COLUMNS = ["module", "module_type", "phase", "grad", "op", "macs", "flops", "bytes", "counted"]


# --------------------------------------------------------------------------- #
# the report
# --------------------------------------------------------------------------- #
@dataclass
class TrainingReport:
    """Plain data of one counted training step (renderers only read it)."""

    layers: pd.DataFrame                  # TRAINING_COLUMNS, one row per layer
    ops: pd.DataFrame                     # OP_COLUMNS, one row per op (and gradient part)
    model_name: str = ""
    input_shapes: list = field(default_factory=list)
    optimizer: OptimizerSpec | None = None
    frozen: list = field(default_factory=list)       # parameter names without gradient
    aux_modules: list = field(default_factory=list)  # roots of the training-only heads

    def __str__(self) -> str:
        """A short readable summary (exact integers and their human form)."""
        from ..report.summary_text import training_text
        return training_text(self)

    def _repr_html_(self) -> str:
        from ..report.summary_text import as_html
        return as_html(str(self))

    def _sum(self, col: str, rows=None) -> int:
        df = self.layers if rows is None else self.layers[rows]
        return int(sum(int(v) for v in df[col]))

    def totals(self) -> dict[str, int]:
        """Model totals of every count column (MACs, FLOPs, elements)."""
        return {c: self._sum(c) for c in COUNTS}

    def aux_totals(self) -> dict[str, int]:
        """Totals of the training-only heads alone."""
        return {c: self._sum(c, self.layers["aux"]) for c in COUNTS}

    def phase_bytes(self) -> dict[str, int]:
        """Bytes moved per phase: forward, backward input-grad, backward weight-grad,
        optimizer (and the step)."""
        t = self.totals()
        return {"forward": t["fwd_bytes"], "backward input-grad": t["bwd_input_bytes"],
                "backward weight-grad": t["bwd_weight_bytes"], "optimizer": t["opt_bytes"],
                "step": t["step_bytes"]}

    @property
    def flop_per_byte(self) -> float:
        """Arithmetic intensity of the whole step: step FLOPs per byte moved."""
        t = self.totals()
        return t["step_flops"] / t["step_bytes"] if t["step_bytes"] else float("nan")

    @property
    def backward_forward_ratio(self) -> float:
        """Backward MACs / forward MACs of the whole model (the '2x rule' says 2)."""
        t = self.totals()
        return t["bwd_macs"] / t["fwd_macs"] if t["fwd_macs"] else float("nan")

    @property
    def uncounted_ops(self) -> list[str]:
        return sorted(set(self.ops.loc[~self.ops["counted"], "op"]))

    def by_module(self, depth: int | None = None) -> pd.DataFrame:
        """Layers summed to module paths truncated to ``depth`` components
        (``None``: the per-layer table itself). Never double counts."""
        if depth is None:
            return self.layers.copy()
        if depth < 0:
            raise ValueError("depth must be >= 0")
        acc: dict[str, dict] = {}
        for rec in self.layers.to_dict(orient="records"):
            m = rec["module"]
            key = m if m == LOSS_MODULE else ".".join(m.split(".")[:depth])
            a = acc.get(key)
            if a is None:
                acc[key] = dict(rec, module=key, **{c: int(rec[c]) for c in COUNTS},
                                aux=bool(rec["aux"]), _n=1)
                continue
            for c in COUNTS:                       # Python ints: no int64 sum can wrap
                a[c] += int(rec[c])
            a["aux"] = a["aux"] and bool(rec["aux"])
            a["_n"] += 1
        for a in acc.values():
            if a.pop("_n") > 1:
                a["module_type"] = ""
        df = pd.DataFrame(list(acc.values()), columns=TRAINING_COLUMNS)
        df["aux"] = df["aux"].astype(bool)
        return exact_counts(df, COUNTS)

    def summary(self) -> dict:
        t = self.totals()
        a = self.aux_totals()
        return {"model": self.model_name, "input": [list(s) for s in self.input_shapes],
                "optimizer": self.optimizer.name if self.optimizer else "none", **t,
                "aux_macs": a["step_macs"], "aux_flops": a["step_flops"]}


# --------------------------------------------------------------------------- #
# backward attribution
# --------------------------------------------------------------------------- #
# --------------------------------------------------------------------------- #
# inputs, loss, freezing
# --------------------------------------------------------------------------- #
def _step_state(model: nn.Module, device: str) -> tuple[nn.Module, dict | None]:
    """(module to run, its state for ``functional_call`` or None).

    On meta the caller's module runs with fresh meta leaves swapped in for the call
    (``torch.func.functional_call``: nothing of the model is written, and no copy of
    the module tree is made); a shared tensor gets one leaf. On a real device the
    step runs on a copy with the weights moved there."""
    if device != "meta":
        return copy_on(model, device, writable=True), None
    leaves: dict[int, torch.Tensor] = {}
    state: dict[str, torch.Tensor] = {}
    for named in (model.named_parameters(remove_duplicate=False),
                  model.named_buffers(remove_duplicate=False)):
        for n, t in named:
            if id(t) not in leaves:
                new = torch.empty(t.shape, dtype=t.dtype, device="meta")
                leaves[id(t)] = nn.Parameter(new, requires_grad=t.requires_grad) \
                    if isinstance(t, nn.Parameter) else new
            state[n] = leaves[id(t)]
    return model, state


@contextlib.contextmanager
def _restored(model: nn.Module):
    """Put every module's own parameters and buffers back afterwards.  ``functional_call``
    restores them itself, but out of order for a submodule registered under two names:
    the caller's model would keep the meta leaves (its weights lost)."""
    mods = list(model.modules())
    kept = [(dict(m._parameters), dict(m._buffers)) for m in mods]
    try:
        yield
    finally:
        for m, (params, bufs) in zip(mods, kept):
            m._parameters.update(params)
            m._buffers.update(bufs)


def _keep_requires_grad(inputs, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Inputs given with ``requires_grad=True`` keep it on the counting device."""
    def wants(t) -> bool:
        return isinstance(t, torch.Tensor) and t.requires_grad

    def fix(new, old):
        if wants(old) and isinstance(new, torch.Tensor) and not new.requires_grad:
            return new.detach().requires_grad_(True)
        return new
    if isinstance(inputs, torch.Tensor):
        return (fix(args[0], inputs),), kwargs
    if isinstance(inputs, (list, tuple)):
        return tuple(fix(a, o) for a, o in zip(args, inputs)), kwargs
    if isinstance(inputs, dict):
        return args, {k: fix(v, inputs.get(k)) for k, v in kwargs.items()}
    return args, kwargs


def _param_owners(model: nn.Module, params: dict[str, torch.Tensor]
                  ) -> tuple[dict[int, str], dict[str, list[torch.Tensor]]]:
    """(id(parameter tensor) -> owning module path, module path -> its parameter tensors);
    a shared parameter belongs to its first owner in ``named_modules`` order."""
    owner: dict[int, str] = {}
    owned: dict[str, list[torch.Tensor]] = {}
    for mname, mod in model.named_modules():
        for local, _ in mod.named_parameters(recurse=False):
            p = params[f"{mname}.{local}" if mname else local]
            if id(p) not in owner:
                owner[id(p)] = mname
                owned.setdefault(mname, []).append(p)
    return owner, owned


# --------------------------------------------------------------------------- #
# training-only heads
# --------------------------------------------------------------------------- #
def _reachable(roots) -> set:
    seen, stack = set(), [r for r in roots if r is not None]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(f for f, _ in n.next_functions if f is not None and f not in seen)
    return seen


def _aux_modules(outputs: list[torch.Tensor], node_map: NodeMap) -> set[str]:
    """Modules that created autograd nodes of which none reaches the main output."""
    if len(outputs) < 2:
        return set()
    main = _reachable([outputs[0].grad_fn])
    has_node: set[str] = set()
    on_main: set[str] = set()
    for node, mod in node_map.module.items():
        if getattr(node, "variable", None) is not None:
            continue
        has_node.add(mod)
        if node in main:
            on_main.add(mod)
    return {m for m in has_node - on_main if m and m != LOSS_MODULE}


def _is_under(module: str, roots: set[str]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def _roots(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if not any(m != r and m.startswith(r + ".") for r in mods))


# --------------------------------------------------------------------------- #
# the entry point
# --------------------------------------------------------------------------- #
def count_training(model: nn.Module, input_size: Sequence[int] | None = None, inputs: Any = None,
                   *, batch: int | None = None, loss: Callable | None = None,
                   optimizer: str | OptimizerSpec | None = "sgd", freeze=None,
                   aux_weight: float = AUX_LOSS_WEIGHT, device: str = "meta",
                   name: str = "", formulas: Mapping[Any, Any] | None = None) -> TrainingReport:
    """Count one training step of ``model``: forward (train mode), loss, backward, optimizer.

    ``input_size`` / ``inputs`` / ``batch``: as :func:`inception_cost.count` (without
    either, a zoo model's ``default_input_size`` at batch 1, or ``batch``).
    ``loss``: ``loss(output) -> scalar tensor``; default: cross-entropy of the (first)
    output against class 0, plus ``aux_weight`` x the cross-entropy of each further
    output (GoogLeNet's auxiliary classifiers, weight 0.3 as in the paper).
    ``optimizer``: "sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw", an
    :class:`OptimizerSpec`, or None. ``freeze``: module/parameter path patterns
    (fnmatch; a comma-separated string or a list) whose parameters get no gradient;
    parameters already ``requires_grad=False`` stay frozen.
    Input tensors passed with ``requires_grad=True`` keep it (the first layer then
    computes an input gradient too). ``device``: "meta" (default, no memory at any
    batch) or a real device for ops that only run there (fused CPU/CUDA attention).
    The caller's model is never changed (the step runs on a copy).
    ``formulas``: per-call entries ``{torch.ops.aten.op: fn or OpCost(forward=, backward=,
    split=)}`` that replace the registry's cost of those ops in forward and backward, and
    how a backward call divides into input- and weight-gradient work (see
    :mod:`inception_cost.counting.registry`).
    """
    return count_training_each(model, input_size, inputs, batch=batch, loss=loss,
                               optimizers=[optimizer], freeze=freeze, aux_weight=aux_weight,
                               device=device, name=name, formulas=formulas)[0]


def count_training_each(model: nn.Module, input_size: Sequence[int] | None = None,
                        inputs: Any = None, *, optimizers: Sequence[str | OptimizerSpec | None],
                        batch: int | None = None, loss: Callable | None = None, freeze=None,
                        aux_weight: float = AUX_LOSS_WEIGHT, device: str = "meta",
                        name: str = "", formulas: Mapping[Any, Any] | None = None
                        ) -> list[TrainingReport]:
    """:func:`count_training` of the same step with each of ``optimizers`` (one report per
    optimizer, in that order), the forward pass and backward counted once for all of them.

    Each optimizer's step is counted on its own after the backward (a counter of its own:
    its ops, their bytes moved and the bytes of the fills and copies after its last op are
    its rows'), so each report is the one :func:`count_training` gives with that optimizer:
    the same forward and backward rows (MACs, FLOPs, bytes), then that optimizer's rows."""
    if not isinstance(model, nn.Module):
        raise UsageError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not optimizers:
        raise UsageError("count_training_each needs at least one optimizer (None: no step)")
    device = check_device(device)
    check_freeze(freeze)
    check_loss(loss)
    check_aux_weight(aux_weight)
    check_name(name)
    check_formulas(formulas)
    try:
        extra = overrides(formulas)
    except RegistryError as e:
        raise UsageError(str(e)) from None
    specs = [optimizer_spec(o) for o in optimizers]
    programs = [StepProgram(optimizer=spec, foreach=False, freeze=freeze, aux_weight=aux_weight,
                            loss=loss) for spec in specs]
    program = programs[0]
    inner = unwrap(model)
    if input_size is None and inputs is None:
        # a zoo model (build()) or a model with default_input_size: its own C x H x W
        input_size = getattr(inner, "default_input_size", None) or getattr(
            model, "default_input_size", None)
    with torch.inference_mode(False):
        work, state = _step_state(inner, device)
        names = {n for n, _ in work.named_parameters(remove_duplicate=False)}
        params = {n: t for n, t in (state.items() if state is not None else
                                    work.named_parameters(remove_duplicate=False)) if n in names}
        program.freeze_parameters(work, params)
        args, kwargs = make_inputs(input_size, inputs, device, batch, inner)
        args, kwargs = _keep_requires_grad(inputs, args, kwargs)
        owner, owned = _param_owners(work, params)
        frozen = [n for n, p in work.named_parameters() if not params[n].requires_grad]
        modes = [(m, m.training) for m in work.modules()]
        try:
            work.train()
            steady = [p.steady_optimizers(owned) for p in programs]
            shared, steps, aux = _run_step(work, state, params, args, kwargs, program, owner,
                                           extra, steady)
        except ForwardError as e:
            if device == "meta" and reads_values(e):
                raise meta_value_error(e) from None
            raise
        finally:
            for m, training in modes:
                m.training = training
    reports = []
    for spec, opt_rows in zip(specs, steps):
        rows = shared + opt_rows
        df = _layers(work, rows, owned, aux)
        ops = exact_counts(pd.DataFrame(rows, columns=OP_COLUMNS), ["macs", "flops", "bytes"])
        reports.append(TrainingReport(layers=df, ops=ops, model_name=name or type(inner).__name__,
                                      input_shapes=tensor_shapes(args, kwargs), optimizer=spec,
                                      frozen=list(frozen), aux_modules=_roots(aux)))
    return reports


def _run_step(work, state, params, args, kwargs, program: StepProgram, owner, formulas=None,
              steady=()):
    """(forward and backward rows, one list of optimizer rows per optimizer set in ``steady``
    (module path -> optimizer in its steady state), the training-only head modules)."""
    with torch.enable_grad(), counting(work, formulas=formulas) as rec:
        cap = rec.capture
        node_map = cap.track_autograd(owner, list(params.values()),
                                      list(args) + list(kwargs.values()))
        with cap.autograd_tracking():
            with model_forward(rec):
                if state is None:
                    out = work(*args, **kwargs)
                else:
                    with _restored(work):
                        out = functional_call(work, state, args, kwargs)
            outputs = step_outputs(out)
            if program.loss is None and outputs is None:
                raise UsageError(f"the model's output is a {type(out).__name__}, not a tensor or a "
                                 f"tuple/dict of tensors: pass loss=")
            with rec.phase("forward", LOSS_MODULE):
                with model_loss():
                    value = program.loss_value(out, outputs)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise UsageError(f"the loss must return a scalar tensor, got {shape}")
            if not value.requires_grad:
                raise UsageError("nothing to train: the loss does not depend on any parameter "
                                 "that requires a gradient (everything frozen?)")
            aux = _aux_modules(outputs, node_map) if outputs else set()
            cap.watch_mixed_nodes()
            with rec.phase("backward"):
                with model_backward():
                    value.backward()
    return training_rows(rec), [_optimizer_rows(work, opts, formulas) for opts in steady], aux


def _optimizer_rows(work: nn.Module, optimizers: dict, formulas=None) -> list[dict]:
    """The optimizer step's rows (OP_COLUMNS dicts): each module's optimizer stepping once on
    the gradients the backward left, under a counter of its own."""
    if not optimizers:
        return []
    with torch.enable_grad(), counting(work, formulas=formulas) as rec:
        for mname, opt in optimizers.items():
            with rec.phase("optimizer", mname):
                opt.step()
    return training_rows(rec)


def training_rows(rec) -> list[dict]:
    """The recorder's rows of one training step as OP_COLUMNS dicts: a backward row whose
    op computes both gradients becomes one row per part (its bytes shared in proportion
    to the parts' FLOPs, the input gradient's share rounded down); profiler markers of the
    optimizer step are dropped.  Units: MACs, FLOPs, bytes."""
    rows = []
    for i, r in enumerate(rec.rows):
        if r.phase == "optimizer":
            if not r.op.startswith("_record_function"):       # profiler markers
                rows.append(dict(module=r.module, module_type=rec.types.get(r.module, ""),
                                 phase="optimizer", grad="", op=r.op, macs=r.macs,
                                 flops=r.flops, bytes=r.bytes, counted=r.counted))
            continue
        if r.phase != "backward":
            rows.append(dict(module=r.module, module_type=r.module_type or "loss", phase=r.phase,
                             grad="", op=r.op, macs=r.macs, flops=r.flops, bytes=r.bytes,
                             counted=r.counted))
            continue
        part, wmod = rec.grad_parts.get(i, ("input", r.module))
        base = dict(module_type=r.module_type, phase="backward", op=r.op, counted=r.counted)
        if isinstance(part, GradCost):
            has_input = part.input.macs or part.input.flops or not (part.weight.macs or part.weight.flops)
            has_weight = part.weight.macs or part.weight.flops
            fi, fw = int(part.input.flops), int(part.weight.flops)
            b_in = r.bytes if not has_weight or not fi + fw else (r.bytes * fi // (fi + fw) if has_input else 0)
            if has_input:
                rows.append(dict(base, module=r.module, grad="input", macs=part.input.macs,
                                 flops=part.input.flops, bytes=b_in))
            if has_weight:
                rows.append(dict(base, module=r.module, grad="weight", macs=part.weight.macs,
                                 flops=part.weight.flops, bytes=r.bytes - b_in))
        else:
            rows.append(dict(base, module=r.module, grad=part, macs=r.macs, flops=r.flops,
                             bytes=r.bytes))
    return rows


def _layers(work: nn.Module, rows: list[dict], owned: dict, aux: set[str]) -> pd.DataFrame:
    types = {n: type(m).__name__ for n, m in work.named_modules()}
    acc: dict[str, dict] = {}

    def row(module: str) -> dict:
        if module not in acc:
            acc[module] = dict.fromkeys(COUNTS, 0)
        return acc[module]

    for r in rows:
        a = row(r["module"])
        if r["phase"] == "forward":
            a["fwd_macs"] += r["macs"]
            a["fwd_flops"] += r["flops"]
            a["fwd_bytes"] += r["bytes"]
        elif r["phase"] == "optimizer":
            a["opt_flops"] += r["flops"]
            a["opt_bytes"] += r["bytes"]
        else:
            a[f"bwd_{r['grad']}_macs"] += r["macs"]
            a[f"bwd_{r['grad']}_flops"] += r["flops"]
            a[f"bwd_{r['grad']}_bytes"] += r["bytes"]
    for mname, params in owned.items():
        a = row(mname)
        a["params"] += sum(p.numel() for p in params)
        trainable = [p for p in params if p.requires_grad]
        a["trainable"] += sum(p.numel() for p in trainable)
    out = []
    for module, a in acc.items():
        a["bwd_macs"] = a["bwd_input_macs"] + a["bwd_weight_macs"]
        a["bwd_flops"] = a["bwd_input_flops"] + a["bwd_weight_flops"]
        a["step_macs"] = a["fwd_macs"] + a["bwd_macs"]
        a["step_flops"] = a["fwd_flops"] + a["bwd_flops"] + a["opt_flops"]
        a["bwd_bytes"] = a["bwd_input_bytes"] + a["bwd_weight_bytes"]
        a["step_bytes"] = a["fwd_bytes"] + a["bwd_bytes"] + a["opt_bytes"]
        mtype = "loss" if module == LOSS_MODULE else types.get(module, "")
        out.append(dict(module=module, module_type=mtype, **a, aux=_is_under(module, aux)))
    # the loss last, every other layer in order of first appearance
    out.sort(key=lambda d: d["module"] == LOSS_MODULE)
    df = pd.DataFrame(out, columns=TRAINING_COLUMNS)
    df["aux"] = df["aux"].astype(bool)
    return exact_counts(df, COUNTS)

