"""``engine="fvcore"``: run fvcore's FlopCountAnalysis behind the CostReport interface.

fvcore traces a real forward on CPU (so it costs memory and time in the batch);
its counts are fvcore-FLOPs: one per MAC for conv/linear/matmul, plus its
norm/pool/upsample conventions.  Rows: one per (module, fvcore op) with the
module's *own* count (its total minus its children's), so sums never double count.
"""
from __future__ import annotations

import logging
import warnings

import torch.nn as nn

from ..errors import UsageError
from .engine import OpRecord
from .frames import layers_frame
from .inputs import make_inputs, tensor_shapes
from .placement import copy_on, unwrap
from .cost_report import CostReport

_MAC_OPS = {"conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum", "_convolution"}


def _materialise(model: nn.Module) -> nn.Module:
    """A CPU copy of the model (weights shared if on CPU, meta weights filled, buffers cloned)."""
    return copy_on(unwrap(model), "cpu")


def count_with_fvcore(model: nn.Module, input_size=None, inputs=None, name: str = "",
                      batch: int | None = None) -> CostReport:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis
    except ImportError:  # pragma: no cover - fvcore is a runtime dependency
        raise UsageError("fvcore is not installed: pip install fvcore") from None
    cpu_model = _materialise(model)
    args, kwargs = make_inputs(input_size, inputs, "cpu", batch, cpu_model)
    if kwargs:
        raise UsageError("engine='fvcore' takes positional inputs only (fvcore traces model(*inputs))")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    fca = FlopCountAnalysis(cpu_model, args)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per = fca.by_module_and_operator()
    children = {n: [f"{n}.{c}" if n else c for c, _ in m.named_children()]
                for n, m in cpu_model.named_modules()}
    rows = []
    for mod, counter in per.items():
        own = dict(counter)
        for child in children.get(mod, []):
            for op, v in per.get(child, {}).items():
                own[op] = own.get(op, 0) - v
        for op, v in own.items():
            if v:
                rows.append(_row(mod, op, int(v)))
    df = layers_frame(cpu_model, [OpRecord(**r) for r in rows])
    return CostReport(layers=df, model_name=name or type(model).__name__,
                      input_shapes=tensor_shapes(args, {}),
                      convention="fvcore", engine="fvcore", device="cpu")


def _row(module: str, op: str, v: int) -> dict:
    return dict(module=module, module_type="", op=op, counted=True, inplace=False, in_shape=None,
                weight_shape=None, out_shape=None, kernel=None, stride=None, padding=None,
                dilation=None, groups=None, macs=v if op in _MAC_OPS else 0, flops=v,
                activations=0, depth=0, callers=(module,) if module else ())
