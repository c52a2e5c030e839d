"""``analyse_step``: one training step run once, under one op capture read by two consumers,
the training counter (MACs, FLOPs, bytes moved per layer and phase) and the memory tracker
(live bytes per category after every op).

The program is the memory analysis' (:func:`.run.run_program`) with the step program of
:class:`~inception_cost.counting.step_program.StepProgram`: the batch and its class targets
are made first, then the forward in train mode, the default loss (cross-entropy of the main
output against the targets plus 0.3 x each auxiliary output's), ``loss.backward()``, one
``optimizer.step()`` of a single ``torch.optim`` optimizer over the trainable parameters in
its steady state, and ``zero_grad(set_to_none=True)``.

* It runs where ``memory`` runs the step: on the meta device, or on fake CPU tensors
  (``FakeTensorMode``) for a model with ``nn.MultiheadAttention`` or
  ``nn.TransformerEncoderLayer``.  The attention inside those modules is then the kernel the
  CPU dispatcher picks, whatever the target device (as in ``memory``): the CPU flash kernel
  where it applies (``need_weights=False``, no attention dropout: ``TransformerEncoderLayer``
  at ``dropout=0``, torchvision's ViT), else the math path.  The counts are those of the
  kernel that ran, so they equal ``count_training(..., device="cpu")`` (a real CPU step: the
  same dispatcher choice); ``count_training`` on meta (always the math path) gives the same
  counts only where every attention takes the math path.  Where the flash kernel runs,
  its forward is one row (the same MACs as the math path's two ``bmm``) and its backward
  recomputes q k^T: batch x heads x L x S x head_dim MACs more per call than the math
  path's backward (:mod:`..counting.backward_formulas`).
* A direct ``F.scaled_dot_product_attention`` call runs the target device's fused kernel
  (:class:`.attention.FusedAttention`), as in ``memory``: its counts are that kernel's,
  equal to ``count_training(..., device=target)`` where the target is at hand, not to
  ``count_training`` on meta.
* The optimizer runs its per-parameter loop (``foreach=False``), the implementation
  ``count_training`` counts; the memory result is that of ``memory(..., foreach=False)``
  whatever the target device (``memory``'s own default on ``cuda`` is the multi-tensor one).
* The counter does not read the ops that make the batch and targets (the count of a step
  starts at the forward); it charges each optimizer op to the module owning the parameter
  it updates, found by storage (one optimizer, not ``count_training``'s one per module: the
  same ops in the same order).
* Its loss reads targets made with the batch, so the training counts equal
  ``count_training(..., loss=...)`` with that loss: the default loss of ``count_training``
  also fills class-0 targets inside the loss, once per output (0 FLOPs, ``8 x batch`` bytes
  written per output on the ``(loss)`` row), which this step does not.

Units: MACs, FLOPs, bytes, elements.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pandas as pd

from ..counting.arguments import check_formulas, check_freeze
from ..counting.autograd_map import LOSS_MODULE
from ..counting.capture import OpCapture
from ..counting.engine import Recorder, counting
from ..counting.frames import exact_counts
from ..counting.inputs import tensor_shapes
from ..counting.optimizer_formulas import optimizer_spec
from ..counting.placement import copy_on, unwrap
from ..counting.registry import RegistryError, overrides
from ..counting.step_program import canonical_optimizer, step_outputs
from ..counting.training import (OP_COLUMNS, TrainingReport, _aux_modules, _layers,
                                 _param_owners, _roots, training_rows)
from ..errors import UsageError
from .api import _config, _model_and_input, _on_device, report_from
from .categories import BACKWARD, OPTIMIZER
from .result import MemoryReport
from .tracked_run import new_tracker, run_tracked, setup


@dataclass
class StepAnalysis:
    """The two results of one captured training step: ``training`` (MACs, FLOPs, bytes
    moved) and ``memory`` (bytes live)."""

    training: TrainingReport
    memory: MemoryReport


def analyse_step(model, input_size=None, *, batch: int = 1, optimizer: str | None = "sgd",
                 freeze=None, step: str = "steady", device: str = "cuda",
                 allocator_rounding: bool = False, workspace: bool = True, formulas=None,
                 inputs=None, name: str | None = None) -> StepAnalysis:
    """Count and track one training step of ``model`` in a single run (see the module
    docstring for the program and how each result compares with ``count_training`` and
    ``memory``).

    ``model``/``input_size``/``batch``/``inputs``: as :func:`.api.memory` (fp32): an
    ``nn.Module`` (a model name: the public :func:`inception_cost.analyse_step`).
    ``optimizer``: a step program name ("sgd", "sgd_momentum", "adam", ...; None/"none"
    for no optimizer step).  ``freeze``: module/parameter path patterns without gradient.
    ``step``/``device``/``allocator_rounding``/``workspace``: as ``memory``.  ``formulas``:
    per-call cost entries (forward, backward and split), as ``count_training``'s.
    """
    check_freeze(freeze)
    check_formulas(formulas)
    try:
        overrides(formulas)
    except RegistryError as e:
        raise UsageError(str(e)) from None
    opt_name = canonical_optimizer("none" if optimizer is None else optimizer)
    spec = optimizer_spec(None if opt_name == "none" else opt_name)
    module, chw, label, n, temps = _model_and_input(model, input_size, batch, inputs,
                                                    "analyse_step")
    cfg = _config(chw, n, True, opt_name, "fp32", step, device, False, workspace, temps, freeze)
    work = copy_on(unwrap(module), "meta")
    work, dev, mode = _on_device(work, cfg.dtype)
    with mode:
        work, opt = setup(work, cfg)
        tracker = new_tracker(work, cfg, opt)
        params = dict(work.named_parameters(remove_duplicate=False))
        owner, owned = _param_owners(work, params)
        cap = OpCapture(work, formulas=formulas, mha_fastpath=None)
        cap.consume(tracker)
        run = _CountedRun(cap, owner, params, owned, opt)
        rec = run_tracked(work, cfg, dev, opt, tracker, counting(work, formulas=formulas,
                                                                  capture=cap),
                          run.on_phase, run.on_batch, run.on_loss)
    rows = training_rows(rec)
    layers = _layers(work, rows, owned, run.aux)
    ops = exact_counts(pd.DataFrame(rows, columns=OP_COLUMNS), ["macs", "flops", "bytes"])
    frozen = [p for p, t in work.named_parameters() if not params[p].requires_grad]
    training = TrainingReport(layers=layers, ops=ops, model_name=name or label,
                              input_shapes=run.input_shapes, optimizer=spec, frozen=frozen,
                              aux_modules=_roots(run.aux))
    memory = report_from(work, tracker, cfg, name or label, bool(allocator_rounding))
    return StepAnalysis(training=training, memory=memory)


class _CountedRun:
    """What the training counter needs from the memory program, told by its callbacks:
    the phase and module (as the capture's phase), the batch (activations for the
    autograd map), the output (training-only heads), the optimizer's tensors."""

    def __init__(self, cap: OpCapture, owner, params, owned, opt):
        self.cap, self.owner, self.params, self.owned, self.opt = cap, owner, params, owned, opt
        self.tracking = contextlib.ExitStack()
        self.aux: set[str] = set()
        self.input_shapes: list = []

    def _recorder(self) -> Recorder:
        return next(c for c in self.cap.consumers if isinstance(c, Recorder))

    def on_phase(self, phase: int, module: str) -> None:
        cap, rec = self.cap, self._recorder()
        if phase == BACKWARD:
            cap.watch_mixed_nodes()
            cap.set_phase("backward")
        elif phase == OPTIMIZER:
            cap.own_optimizer(self._optimizer_tensors())
            cap.set_phase("optimizer")
        elif module == "(input)":
            rec.recording = False
        elif module == "(loss)":
            cap.set_phase("forward", LOSS_MODULE)
        else:
            rec.recording = True
            cap.set_phase("forward")

    def on_batch(self, args, kwargs) -> None:
        self.input_shapes = tensor_shapes(args, kwargs)
        self.cap.track_autograd(self.owner, list(self.params.values()),
                                list(args) + list(kwargs.values()))
        self.tracking.enter_context(self.cap.autograd_tracking())

    def on_loss(self, out, loss) -> None:
        outputs = step_outputs(out)
        self.aux = _aux_modules(outputs, self.cap.node_map) if outputs else set()
        self.tracking.close()

    def _optimizer_tensors(self) -> dict:
        state = self.opt.state if self.opt is not None else {}
        out = {}
        for mname, tensors in self.owned.items():
            ts = []
            for p in tensors:
                if not p.requires_grad:
                    continue
                ts.append(p)
                if p.grad is not None:
                    ts.append(p.grad)
                ts.extend(v for v in state.get(p, {}).values() if hasattr(v, "untyped_storage"))
            if ts:
                out[mname] = ts
        return out
