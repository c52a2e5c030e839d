"""Composite functions reach any consumer of the op capture through ``on_function``
(``inception_cost.counting.capture_functions``), the counter being one such consumer.

References: hand arithmetic and the shapes the test builds."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from inception_cost.counting.capture import CaptureConsumer, OpCapture
from inception_cost.counting.engine import counting


class BnAttention(nn.Module):
    """BatchNorm2d(3) on x (1, 3, 4, 4), then attention on q, k, v (1, 2, 4, 8), scale 0.5."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x, q, k, v):
        return self.bn(x), F.scaled_dot_product_attention(q, k, v, scale=0.5)


def _shape(t):
    return tuple(t.shape) if isinstance(t, torch.Tensor) else None


class _Probe(CaptureConsumer):
    """A new analysis: notes each composite function call, and the aten ops met inside one."""

    def __init__(self):
        self.functions = []
        self.inside = []

    def on_call(self, call):
        if call.capture.functions.depth:
            self.inside.append(call.name)

    def on_function(self, call):
        self.functions.append(dict(func=call.func, name=call.name, shortcut=call.shortcut,
                                   args=tuple(_shape(a) if isinstance(a, torch.Tensor) else a
                                              for a in call.args),
                                   out=_shape(call.out), phase=call.phase))


def _inputs(device):
    return (torch.zeros(1, 3, 4, 4, device=device),
            *(torch.zeros(1, 2, 4, 8, device=device) for _ in range(3)))


def _run(net, device, probe):
    cap = OpCapture(net, mha_fastpath=None)
    cap.consume(probe)
    with torch.no_grad(), counting(net, capture=cap) as rec:
        net(*_inputs(device))
    return rec.rows


def test_a_new_consumer_sees_each_composite_once_with_its_shapes_and_the_counter_agrees():
    """On CPU both functions run (no shortcut); their aten ops reach ``on_call`` inside the
    function.  Hand arithmetic: attention MACs = B*H*L*S*(E+Ev) = 1*2*4*4*(8+8) = 512;
    eval batch norm FLOPs = 2 * 1*3*4*4 = 96 (one row each in the counter's count)."""
    net = BnAttention().eval()
    probe = _Probe()
    rows = _run(net, "cpu", probe)
    assert [f["name"] for f in probe.functions] == ["batch_norm", "scaled_dot_product_attention"]
    bn, sdpa = probe.functions
    assert bn["func"] is F.batch_norm and sdpa["func"] is F.scaled_dot_product_attention
    # batch_norm in its formula's order: input, running mean, running var, weight, bias, training
    assert bn["args"][:6] == ((1, 3, 4, 4), (3,), (3,), (3,), (3,), False)
    assert bn["out"] == (1, 3, 4, 4)
    # attention in aten's order: q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa
    assert sdpa["args"] == ((1, 2, 4, 8),) * 3 + (None, 0.0, False, 0.5, False)
    assert sdpa["out"] == (1, 2, 4, 8)
    assert not bn["shortcut"] and not sdpa["shortcut"]
    assert {f["phase"] for f in probe.functions} == {"forward"}
    assert "native_batch_norm" in probe.inside    # the aten ops they dispatched, seen inside
    assert "_scaled_dot_product_flash_attention_for_cpu" in probe.inside
    by_op = {r.op: r for r in rows}
    assert [r.op for r in rows] == ["batch_norm", "scaled_dot_product_attention"]
    assert by_op["scaled_dot_product_attention"].macs == 1 * 2 * 4 * 4 * (8 + 8) == 512
    assert by_op["batch_norm"].flops == 2 * (1 * 3 * 4 * 4) == 96


def test_on_meta_a_shortcut_stands_in_and_is_reported_as_such():
    """On meta with no gradient the second run of the same call signature runs neither
    function (its bytes remembered from the first): the probe is told so, with the same
    shapes, and the counter's rows are the same as the first run's."""
    net = BnAttention().eval().to("meta")
    first, second = _Probe(), _Probe()
    rows1 = _run(net, "meta", first)
    rows2 = _run(net, "meta", second)
    assert [f["name"] for f in second.functions] == ["batch_norm", "scaled_dot_product_attention"]
    assert all(f["shortcut"] for f in second.functions)
    # nothing ran inside them but the making of the stand-in outputs
    # (batch norm: empty_like of x; attention: an empty (N, L, H, Ev) viewed as (N, H, L, Ev))
    assert sorted(second.inside) == ["empty", "empty_like", "transpose"], second.inside
    assert [f["args"] for f in second.functions] == [f["args"] for f in first.functions]
    assert [f["out"] for f in second.functions] == [(1, 3, 4, 4), (1, 2, 4, 8)]
    assert [(r.op, r.macs, r.flops, r.bytes) for r in rows2] == [
        (r.op, r.macs, r.flops, r.bytes) for r in rows1]


def test_the_function_mode_runs_only_for_a_consumer_that_asks():
    """A consumer with only ``on_call`` (the memory tracker's kind) leaves torch's function
    mode stack empty, so eager paths that check for one (MHA's fast path) are unchanged."""
    class OnlyOps(CaptureConsumer):
        def on_call(self, call):
            pass

    cap = OpCapture(mha_fastpath=None)
    cap.consume(OnlyOps())
    with cap:
        assert torch._C._len_torch_function_stack() == 0
    cap = OpCapture(mha_fastpath=None)
    cap.consume(_Probe())
    with cap:
        assert torch._C._len_torch_function_stack() == 1
    assert torch._C._len_torch_function_stack() == 0
