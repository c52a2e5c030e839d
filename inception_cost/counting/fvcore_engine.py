"""``engine="fvcore"``: run fvcore's FlopCountAnalysis behind the CostReport interface.

fvcore traces a real forward on CPU (so it costs memory and time in the batch);
its counts are fvcore-FLOPs: one per MAC for conv/linear/matmul, plus its
norm/pool/upsample conventions.  Rows: one per (module, fvcore op) with the
module's *own* count (its total minus its children's), so sums never double count.
"""
from __future__ import annotations

import copy
import logging
import warnings

import torch
import torch.nn as nn

from ..errors import UsageError
from .engine import OpRecord
from .report import CostReport

_MAC_OPS = {"conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum", "_convolution"}


def _materialise(model: nn.Module) -> nn.Module:
    tensors = list(model.parameters()) + list(model.buffers())
    if all(t.device.type == "cpu" for t in tensors):
        return model
    if not any(t.is_meta for t in tensors):
        return copy.deepcopy(model).to("cpu")
    m = copy.deepcopy(model).to_empty(device="cpu")
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()):
            if t.is_floating_point():
                t.normal_(0, 0.01) if t.dim() > 1 else t.fill_(1.0)
    return m


def count_with_fvcore(model: nn.Module, input_size=None, inputs=None, name: str = "") -> CostReport:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis
    except ImportError:  # pragma: no cover - fvcore is a runtime dependency
        raise UsageError("fvcore is not installed: pip install fvcore") from None
    from .api import _attach_params, _make_inputs

    cpu_model = _materialise(model)
    inputs = _make_inputs(input_size, inputs, "cpu")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    fca = FlopCountAnalysis(cpu_model, inputs)
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
    df = _attach_params(cpu_model, [OpRecord(**r) for r in rows])
    return CostReport(layers=df, model_name=name or type(model).__name__,
                      input_shapes=[tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)],
                      convention="fvcore", engine="fvcore", device="cpu")


def _row(module: str, op: str, v: int) -> dict:
    return dict(module=module, module_type="", op=op, counted=True, inplace=False, in_shape=None,
                weight_shape=None, out_shape=None, kernel=None, stride=None, padding=None,
                dilation=None, groups=None, macs=v if op in _MAC_OPS else 0, flops=v,
                activations=0, depth=0)
