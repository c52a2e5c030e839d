"""Checkpointed models: our predicted training-step peak against PyTorch's MemTracker, and
our counted recompute against PyTorch's FlopCounterMode.

The MemTracker step is written here with PyTorch's API (FakeTensorMode on CPU, Adam with
foreach, cross-entropy + 0.3 x each auxiliary head): a first step, run before tracking
starts, creates Adam's state; MemTracker then measures the second (steady) step.  Small
batches keep it fast; the benchmark (benchmarks/checkpoint_plan.py) runs the planner's
plans at 50/70/90% budgets at full size.
"""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from inception_cost import apply_checkpointing, build, memory
from inception_cost.checkpointing.recompute import recompute_costs

mt_mod = pytest.importorskip("torch.distributed._tools.mem_tracker")
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
    """MemTracker's peak (bytes) of the second of two training steps."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    model = copy.deepcopy(meta_model)
    with FakeTensorMode(allow_non_fake_inputs=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model.to_empty(device="cpu").train()
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                               foreach=True)

        def step():
            x = torch.randn(batch, *chw)
            y = torch.randint(0, 2, (batch,))
            out = model(x)
            outs = [out] if isinstance(out, torch.Tensor) else [o for o in out
                                                                if isinstance(o, torch.Tensor)]
            loss = F.cross_entropy(outs[0], y)
            for aux in outs[1:]:
                loss = loss + 0.3 * F.cross_entropy(aux, y)
            del out, outs
            loss.backward()
            del loss
            opt.step()
            opt.zero_grad(set_to_none=True)

        step()   # untracked: creates Adam's state; MemTracker's peak starts at entry
        tracker = mt_mod.MemTracker()
        tracker.track_external(model, opt)
        with tracker:
            step()
        snap = tracker.get_tracker_snapshot("peak")
    return int(next(iter(snap.values()))[mt_mod._TOTAL_KEY])


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


@pytest.mark.parametrize("name", ["googlenet", "resnet50"])
def test_recompute_macs_equal_flopcounter_difference(name):
    """Recompute MACs = FlopCounterMode/2 (wrapped forward + backward) minus the unwrapped
    model's, exactly; on real CPU tensors at a small input."""
    make, _chw, plan = MODELS[name]
    torch.manual_seed(0)
    meta = make()
    cpu = copy.deepcopy(meta).to_empty(device="cpu")
    for p in cpu.parameters():
        torch.nn.init.normal_(p, std=0.01)
    cpu.train()
    x = torch.randn(1, 3, 224, 224)
    expected = _fcm_macs(apply_checkpointing(cpu, plan), x) - _fcm_macs(cpu, x)
    ours = recompute_costs(meta, (1, 3, 224, 224), plan)
    assert expected > 0
    assert ours.of(plan)[0] == expected
