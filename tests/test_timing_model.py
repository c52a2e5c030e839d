"""The timing model: hand arithmetic on single ops, and parity with PyTorch's roofline
(torch/utils/_runtime_estimation.py get_compute_time / get_transfer_time, gpu_type pinned)
when configured with its formula, over googlenet, resnet50 and vit_b_16."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._runtime_estimation import (_FLOAT_TYPES, _IGNORE_OPS, get_compute_time,
                                             get_transfer_time)

import inception_cost
import inception_cost.timing_model.record as record_module
from inception_cost.counting.events import EventCapture, EventLog
from inception_cost.errors import UsageError
from inception_cost.models.resolve import resolve_model
from inception_cost.timing_model.devices import Device, find_device
from inception_cost.timing_model.model import Terms, op_time, predict_events, pytorch_device
from inception_cost.timing_model.record import record_forward, record_training

GPU = "NVIDIA H100"


def _events(model, x):
    with torch.no_grad(), EventCapture(model) as cap:
        log = cap.subscribe(EventLog())
        model(x)
    return [e for e in log.events if not e.free]


TOY = Device(name="toy", kind="gpu", peaks_tflops={"fp32": 1.0, "fp16": 4.0}, bandwidth_gbs=100,
             compute_efficiency=0.5, memory_efficiency=0.5, overhead_us=10.0)


def test_conv_time_by_hand():
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    (ev,) = _events(conv, torch.randn(1, 64, 32, 32))
    macs = 64 * 32 * 32 * 64 * 9
    byts = 4 * (64 * 32 * 32 * 2 + 64 * 64 * 9)
    t = op_time(ev, TOY, "fp32")
    assert t.compute_s == pytest.approx(2 * macs / (1e12 * 0.5))
    assert t.memory_s == pytest.approx(byts / (100e9 * 0.5))
    assert t.time_s == pytest.approx(max(2 * macs / 0.5e12, byts / 50e9) + 10e-6)
    assert t.bound == "compute"
    # fp16 mode: the convolution runs at the tensor-core peak (4 TFLOP/s)
    assert op_time(ev, TOY, "fp16").compute_s == pytest.approx(2 * macs / (4e12 * 0.5))


def test_relu_is_memory_or_overhead_bound_by_hand():
    (ev,) = _events(nn.ReLU(), torch.randn(1, 64, 32, 32))
    t = op_time(ev, TOY, "fp16")
    # 1 FLOP per element (the max), on the FP32 pipe (1 TFLOP/s x 0.5), not the fp16 peak
    assert t.compute_s == pytest.approx(65536 / 0.5e12)
    assert t.memory_s == pytest.approx(2 * 4 * 65536 / 50e9)     # 10.49 us
    assert t.bound == "memory"                                   # > the 10 us overhead
    assert t.time_s == pytest.approx(2 * 4 * 65536 / 50e9 + 10e-6)
    small = _events(nn.ReLU(), torch.randn(1, 64, 8, 8))[0]
    assert op_time(small, TOY, "fp32").bound == "overhead"       # 0.66 us of bytes


def test_totals_and_phases_add_up():
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    events = record_training(m, (2, 3, 8, 8))
    p = predict_events(events, TOY, "fp32", batch=2, training=True)
    assert p.totals["latency_ms"] == pytest.approx(p.ops["time_ms"].sum())
    assert p.totals["latency_ms"] == pytest.approx(p.layers["time_ms"].sum())
    assert p.totals["latency_ms"] == pytest.approx(p.phases["time_ms"].sum())
    assert int(p.phases["bytes"].sum()) == sum(e.bytes for e in events)
    assert int(p.phases["flops"].sum()) == sum(e.flops for e in events)
    assert list(p.phases["phase"]) == ["forward", "backward input-grad", "backward weight-grad",
                                       "optimizer"]
    assert p.totals["images_per_s"] == pytest.approx(2 / (p.totals["latency_ms"] / 1e3))


def test_missing_mode_and_unknown_device():
    with pytest.raises(UsageError, match="no bf16 peak"):
        inception_cost.predict(nn.Linear(3, 3), (1, 3), device="V100", dtype="bf16")
    with pytest.raises(UsageError, match="unknown device"):
        inception_cost.predict(nn.Linear(3, 3), (1, 3), device="H1000000")


def test_api_returns_frames():
    p = inception_cost.predict(nn.Sequential(nn.Linear(16, 32), nn.ReLU()), (4, 16), device="a100-80gb")
    assert set(p.layers["module"]) == {"0", "1"}
    assert p.totals["batch"] == 4 and p.totals["latency_ms"] > 0


# --------------------------------------------------------------------------- #
# parity with torch's roofline helpers
# --------------------------------------------------------------------------- #
class _TorchTimes(TorchDispatchMode):
    """Reference: what RuntimeEstimator._roofline_estimate computes per op (ns), pinned to
    ``GPU`` (its code path, minus the CUDA-only check)."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet in _IGNORE_OPS:
            self.rows.append((packet.__name__, None, None))
            return out
        flat_args = pytree.tree_flatten((args, kwargs))[0]
        flat_outs = pytree.tree_flatten(out)[0]
        transfer = get_transfer_time(flat_args, flat_outs, gpu_type=GPU)
        dtypes = {t.dtype for t in flat_outs if isinstance(t, torch.Tensor) and t.dtype in _FLOAT_TYPES}
        compute = get_compute_time(packet, args, kwargs, out, dtypes, gpu_type=GPU)
        self.rows.append((packet.__name__, compute, transfer))
        return out


def _with_reference(fn):
    ref = _TorchTimes()
    real = record_module.EventCapture

    class Both(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "reference_flops": True})

        def __enter__(self):
            out = super().__enter__()
            ref.__enter__()
            return out

        def __exit__(self, *exc):
            ref.__exit__(*exc)
            return super().__exit__(*exc)
    record_module.EventCapture = Both
    try:
        events = fn()
    finally:
        record_module.EventCapture = real
    return events, ref.rows


@pytest.fixture(scope="module")
def zoo():
    return {n: resolve_model(n)[0] for n in ("googlenet", "torchvision:resnet50", "torchvision:vit_b_16")}


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name", ["googlenet", "torchvision:resnet50", "torchvision:vit_b_16"])
def test_parity_with_pytorch_roofline(zoo, name, training):
    rec = record_training if training else record_forward
    events, ref = _with_reference(lambda: rec(zoo[name], (2, 3, 224, 224)))
    dev, terms = pytorch_device(GPU), Terms.pytorch()
    assert [e.op for e in events] == [r[0] for r in ref]
    compared = 0
    for ev, (op, compute_ns, transfer_ns) in zip(events, ref):
        if compute_ns is None or ev.free:
            # torch skips it, or it is a view/allocation we price at 0 (torch charges the
            # bytes of an aliasing op its _VIEW_OPS list misses)
            assert compute_ns is None or not compute_ns, op
            continue
        t = op_time(ev, dev, "fp32", terms)
        assert t.compute_s * 1e9 == pytest.approx(compute_ns, rel=1e-12, abs=1e-9), op
        assert t.memory_s * 1e9 == pytest.approx(transfer_ns, rel=1e-12), op
        assert t.time_s * 1e9 == pytest.approx(max(compute_ns, transfer_ns), rel=1e-12), op
        compared += 1
    assert compared > 100


def test_default_model_differs_from_pytorch_where_documented(zoo):
    """Same device numbers: the default prices a convolution's FLOPs at 2x PyTorch's time
    (no halving of FLOPs), adds the per-op overhead, and uses memory efficiency."""
    events = record_forward(zoo["googlenet"], (1, 3, 224, 224), reference_flops=True)
    conv = next(e for e in events if e.op == "convolution")
    dev = pytorch_device(GPU)
    ours = op_time(conv, dev, "fp32", Terms(overhead=False))
    theirs = op_time(conv, dev, "fp32", Terms.pytorch())
    assert conv.flops == conv.reference_flops + conv.outputs[0].shape[1] * 112 * 112  # + bias adds
    assert ours.compute_s == pytest.approx(theirs.compute_s * 2 * conv.flops / conv.reference_flops)
