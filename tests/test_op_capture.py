"""One op capture, several consumers: the memory tracker, the counter and event subscribers
read the same run (``inception_cost.counting.capture.OpCapture``).

References: a plain ``TorchDispatchMode`` written here (what eager execution dispatches),
``FlopCounterMode``, and hand arithmetic."""
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from inception_cost.counting.capture import CaptureConsumer, OpCapture
from inception_cost.counting.engine import counting
from inception_cost.counting.op_event import EventLog
from inception_cost.memory_analysis.tracker import StorageTracker

aten = torch.ops.aten


class _Dispatched(TorchDispatchMode):
    """The reference: the name of every aten op eager execution dispatches."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func).replace(".default", ""))
        return func(*args, **(kwargs or {}))


class AddMv(nn.Module):
    """b + W x with W (5, 7): aten.addmv, which has no formula and is decomposed by the
    counter (mv 5*7 = 35 MACs, 70 FLOPs; then beta*b, alpha*(Wx) and + on 5 elements)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(5, 7))
        self.b = nn.Parameter(torch.zeros(5))

    def forward(self, x):
        return torch.addmv(self.b, self.w, x)


class _Probe(CaptureConsumer):
    """Counts what the capture hands over."""

    def __init__(self):
        self.calls = []

    def on_call(self, call):
        self.calls.append((call.name, call.inner, call.decomposed))


def test_tracker_and_counter_read_one_capture_each_as_it_needs():
    """The counter decomposes addmv (its rows: the sub-ops, 35 MACs and 85 FLOPs by hand);
    the memory tracker on the same capture sees addmv itself, exactly the ops eager
    execution dispatches, and its one new storage: the 5-float output, 20 bytes."""
    m, x = AddMv(), torch.zeros(7)
    ref = _Dispatched()
    with torch.no_grad(), ref:
        m(x)
    assert ref.names == ["aten.addmv"]
    cap = OpCapture(mha_fastpath=None)
    tracker, probe = StorageTracker(), _Probe()
    tracker.register_model(m)
    cap.consume(tracker)
    cap.consume(probe)
    with torch.no_grad(), counting(m, capture=cap) as rec:
        m(x)
    assert [str(f).replace(".default", "") for f in tracker.op_funcs] == ref.names
    new = tracker.records[2:]            # after the two parameters registered before the run
    assert [r.nbytes for r in new] == [5 * 4]
    assert (sum(r.macs for r in rec.rows), sum(r.flops for r in rec.rows)) == (35, 85)
    assert "addmv" not in [r.op for r in rec.rows]
    # the probe saw the sub-ops flagged inner, then addmv once, flagged decomposed
    outer = [name for name, inner, _ in probe.calls if not inner]
    assert outer == ["addmv"] and probe.calls[-1] == ("addmv", False, True)
    assert any(inner for _, inner, _ in probe.calls)


def test_tracker_alone_sees_every_op_of_a_training_step():
    """A training step of Linear(4, 3) (forward, loss, backward, SGD step): the tracker,
    alone on its capture, sees the same op sequence as the reference mode."""
    torch.manual_seed(0)
    net, x = nn.Linear(4, 3), torch.randn(2, 4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, foreach=False)

    def step():
        net(x).sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    ref = _Dispatched()
    with ref:
        step()
    tracker = StorageTracker()
    with tracker.capture():
        step()
    assert [str(f).replace(".default", "") for f in tracker.op_funcs] == ref.names
    assert tracker.n == len(ref.names) > 5


class MatMul(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(5, 3))

    def forward(self, x):
        return x.mm(self.w)


def test_events_and_counter_on_one_capture_agree_with_flop_counter_mode():
    """An event subscriber and the counter on the same capture: forward (4,5)@(5,3) is 60 MACs,
    120 FLOPs; the three mm of forward + backward (60 MACs each) 360 FLOPs, FlopCounterMode's
    figure (it counts matrix products only); both readers see the same total of every op."""
    net, x = MatMul(), torch.zeros(4, 5, requires_grad=True)
    with FlopCounterMode(display=False) as fcm:
        net(x).sum().backward()
    cap = OpCapture(net, mha_fastpath=None)
    log = cap.subscribe(EventLog())
    with counting(net, capture=cap) as rec:
        loss = net(x).sum()
        with rec.phase("backward"):
            loss.backward()
    assert sum(e.flops for e in log.events if e.op == "mm") \
        == sum(r.flops for r in rec.rows if r.op == "mm") == fcm.get_total_flops() == 360
    assert sum(e.flops for e in log.events) == sum(r.flops for r in rec.rows)
    fwd = [e for e in log.events if e.phase == "forward" and e.op == "mm"]
    assert [(e.macs, e.flops, e.module) for e in fwd] == [(60, 120, "")]
