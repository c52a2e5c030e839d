"""Checkpointed models: our predicted training-step peak against PyTorch's MemTracker, and
our counted recompute against PyTorch's FlopCounterMode.

The MemTracker step is written with PyTorch's API (tests/memtracker_step.py: FakeTensorMode
on CPU, Adam with foreach, cross-entropy + 0.3 x each auxiliary head): one optimizer step
on zero gradients, run before tracking starts, creates Adam's state (the same tensors a
whole first step creates, without its forward and backward); MemTracker then measures the
steady step.  Small batches keep it fast; the benchmark (benchmarks/checkpoint_plan.py)
runs the planner's plans at 50/70/90% budgets at full size.
"""
import copy

import pytest
import torch

from inception_cost import apply_checkpointing, build, memory
from inception_cost.checkpointing.recompute import recompute_costs

pytest.importorskip("torch.distributed._tools.mem_tracker")
from memtracker_step import reference_step  # noqa: E402

# the recompute check runs GoogLeNet and ResNet-50 forward and backward on CPU
pytestmark = pytest.mark.usefixtures("one_thread")


def _vit():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        return torchvision.models.vit_b_16()


MODELS = {
    "googlenet": (lambda: build("googlenet", aux=True), (3, 224, 224),
                  ["conv1", "inception3a", "inception4b", "inception4e", "aux1"]),
    "inception_v3": (lambda: build("inception_v3", aux=True), (3, 299, 299),
                     ["conv_2b", "mixed_5b", "mixed_6a", "mixed_6e", "aux", "mixed_7c"]),
    "resnet50": (lambda: build("resnet50"), (3, 224, 224),
                 ["layer1.0", "layer1.1", "layer2.0", "layer3.2", "layer4.2"]),
    "vit_b_16": (_vit, (3, 224, 224),
                 [f"encoder.layers.encoder_layer_{i}" for i in (0, 3, 4, 11)]),
}


BATCH = 8


def memtracker_steady_peak(meta_model, batch, chw) -> int:
    """MemTracker's peak (bytes) of a steady training step (tests/memtracker_step.py: Adam's
    state made by one optimizer step on zero gradients before tracking starts, as after
    any earlier step; then one tracked step)."""
    return reference_step(meta_model, chw, batch, training=True, optimizer="adam")["Total"]


@pytest.mark.parametrize("name", list(MODELS))
def test_checkpointed_peak_matches_memtracker(name):
    make, chw, plan = MODELS[name]
    model = make()
    wrapped = apply_checkpointing(model, plan)
    ours = memory(wrapped, chw, batch=BATCH, training=True, optimizer="adam")
    plain = memory(model, chw, batch=BATCH, training=True, optimizer="adam")
    ref = memtracker_steady_peak(wrapped, BATCH, chw)
    assert abs(ours.peak_bytes - ref) <= 0.01 * ref, (ours.peak_bytes, ref)
    # the plan changes the peak (the comparison is not of two unwrapped runs)
    assert ours.peak_bytes < plain.peak_bytes


def _fcm_macs(model, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fcm:
        out = model(x)
        outs = [out] if isinstance(out, torch.Tensor) else list(out)
        sum(o.sum() for o in outs).backward()
    total = fcm.get_total_flops()
    assert total % 2 == 0
    return total // 2


# batch 1; GoogLeNet keeps 224x224 (its auxiliary heads' pooling and classifiers need it),
# ResNet-50 (adaptive pooling) runs at 64x64: layer4 at 2x2, so every wrapped block still
# runs and training-mode batch norm still has more than one value per channel
RECOMPUTE_INPUT = {"googlenet": (1, 3, 224, 224), "resnet50": (1, 3, 64, 64)}


@pytest.mark.parametrize("name", list(RECOMPUTE_INPUT))
def test_recompute_macs_equal_flopcounter_difference(name):
    """Recompute MACs = FlopCounterMode/2 (wrapped forward + backward) minus the unwrapped
    model's, exactly; on real CPU tensors at a small input."""
    make, _chw, plan = MODELS[name]
    size = RECOMPUTE_INPUT[name]
    torch.manual_seed(0)
    meta = make()
    cpu = copy.deepcopy(meta).to_empty(device="cpu")
    for p in cpu.parameters():
        torch.nn.init.normal_(p, std=0.01)
    cpu.train()
    x = torch.randn(*size)
    expected = _fcm_macs(apply_checkpointing(cpu, plan), x) - _fcm_macs(cpu, x)
    ours = recompute_costs(meta, size, plan)
    assert expected > 0
    assert ours.of(plan)[0] == expected
