"""Which optimizer implementation: multi-tensor (foreach, PyTorch's default on CUDA) or the
per-parameter loop (its default on CPU).  References run in the test: MemTracker on fake
CPU tensors, and the real CPU peak from torch.profiler's allocation events."""
import pytest
import torch
import torch.nn as nn

from inception_cost.memory_analysis import memory
from inception_cost.memory_analysis.real import real_cpu_peak
from inception_cost.memory_analysis.reference import memtracker_peak
from inception_cost.memory_analysis.step_config import StepConfig

pytest.importorskip("torch.distributed._tools.mem_tracker")
CHW = (3, 16, 16)


def mlp():
    """Linear layers only: no oneDNN convolution scratch in the real run."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 512), nn.ReLU(),
                         nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


@pytest.fixture(scope="module")
def peaks():
    out = {}
    for fe in (True, False):
        model = mlp()
        cfg = StepConfig(4, CHW, True, "adam", device="cpu", foreach=fe)
        out[fe] = (memory(model, CHW, batch=4, training=True, optimizer="adam",
                          device="cpu", foreach=fe),
                   memtracker_peak(model, cfg)["Total"],
                   real_cpu_peak(mlp(), cfg).peak_bytes)
    return out


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "loop"])
def test_each_implementation_matches_memtracker_and_the_real_run(peaks, foreach):
    ours, mt, real = peaks[foreach]
    assert ours.foreach is foreach
    assert abs(ours.peak_bytes - mt) <= 0.01 * mt
    assert abs(ours.peak_bytes - real) <= 0.01 * real
    # and the two implementations really differ on this model (the choice matters)
    assert abs(peaks[True][2] - peaks[False][2]) > 0.02 * peaks[True][2]


def test_default_is_the_target_devices():
    model = mlp()
    cpu = memory(model, CHW, batch=4, training=True, optimizer="adam", device="cpu")
    cuda = memory(model, CHW, batch=4, training=True, optimizer="adam", device="cuda")
    assert cpu.foreach is False and cuda.foreach is True
    assert cpu.peak_bytes == memory(model, CHW, batch=4, training=True, optimizer="adam",
                                    device="cuda", foreach=False).peak_bytes
