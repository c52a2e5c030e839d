"""Peak and per-category bytes against PyTorch's MemTracker (FakeTensorMode, CPU) on the
same program: same model, batch, optimizer; within 1% per category.

MemTracker's categories differ from ours by design (see inception_cost/memory_analysis/reference.py
and the README's "Memory" section); ``ours_as_memtracker`` folds ours into its names and
the last tests check that explanation.
"""
import time

import pytest
import torch

from inception_cost import build
from inception_cost.memory_analysis import memory
from inception_cost.memory_analysis.reference import memtracker_peak, ours_as_memtracker
from inception_cost.memory_analysis.step import StepConfig

pytest.importorskip("torch.distributed._tools.mem_tracker")

MODELS = {
    "googlenet": (lambda: build("googlenet", aux=True), (3, 224, 224)),
    "inception_v3": (lambda: build("inception_v3", aux=True), (3, 299, 299)),
    "resnet50": (lambda: build("resnet50"), (3, 224, 224)),
    "vgg16": (lambda: build("vgg16"), (3, 224, 224)),
    "vit_b_16": (lambda: _vit(), (3, 224, 224)),
}
BATCH = 2


def _vit():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        return torchvision.models.vit_b_16()


def within_one_percent(ours: dict, ref: dict) -> list[str]:
    bad = []
    for k, v in ref.items():
        if abs(ours[k] - v) > max(0.01 * v, 64):   # 64 B floor for near-empty categories
            bad.append(f"{k}: ours {ours[k]:,} vs MemTracker {v:,}")
    return bad


@pytest.mark.parametrize("training", [False, True], ids=["inference", "train_adam"])
@pytest.mark.parametrize("name", list(MODELS))
def test_peak_and_categories_match_memtracker(name, training):
    make, chw = MODELS[name]
    model = make()
    opt = "adam" if training else "none"
    t0 = time.perf_counter()
    ours = memory(model, chw, batch=BATCH, training=training, optimizer=opt)
    t1 = time.perf_counter()
    ref = memtracker_peak(model, StepConfig(BATCH, chw, training, opt))
    t2 = time.perf_counter()
    print(f"{name} {'train' if training else 'inference'}: ours {t1 - t0:.2f}s, "
          f"MemTracker {t2 - t1:.2f}s")
    mine = ours_as_memtracker(ours)
    assert not within_one_percent(mine, ref), within_one_percent(mine, ref)
    assert ref["Parameter"] == sum(p.numel() * 4 for p in model.parameters())
    if training:
        # Steady state: Adam's two moments (fp32) + one 4-byte step per parameter tensor.
        params = list(model.parameters())
        assert ours.breakdown["optimizer_state"] == \
            2 * sum(p.numel() * 4 for p in params) + 4 * len(params)


def test_by_design_forward_storages_are_all_activations_to_memtracker():
    """Inference under no_grad saves nothing: MemTracker's "Activation" is exactly our
    transient forward bytes; in training it is our saved + transient forward bytes."""
    make, chw = MODELS["googlenet"]
    model = make()
    inf = memory(model, chw, batch=BATCH)
    ref = memtracker_peak(model, StepConfig(BATCH, chw))
    assert inf.breakdown["saved_activations"] == 0
    assert ref["Activation"] == inf.detail["transient_forward"]
    tr = memory(model, chw, batch=BATCH, training=True, optimizer="sgd")
    ref_tr = memtracker_peak(model, StepConfig(BATCH, chw, True, "sgd"))
    assert tr.breakdown["saved_activations"] > 0.9 * ref_tr["Activation"]
    assert abs(ref_tr["Activation"] - (tr.breakdown["saved_activations"]
                                       + tr.detail["transient_forward"])) <= 64


def test_by_design_optimizer_temporaries_are_optstate_to_memtracker():
    """First Adam step on a model whose peak falls inside optimizer.step(): MemTracker's
    "Optstate" = our optimizer_state + the step's temporaries (our transient)."""
    make, chw = MODELS["vgg16"]
    model = make()
    cfg = StepConfig(1, chw, True, "adam", step="first")
    ours = memory(model, chw, batch=1, training=True, optimizer="adam", step="first")
    ref = memtracker_peak(model, cfg)
    assert ours.peak_phase == "optimizer"
    assert ours.detail["transient_optimizer"] > 0
    assert ref["Optstate"] == ours.detail["optimizer_state"] + ours.detail["transient_optimizer"]
    assert ref["Optstate"] > ours.breakdown["optimizer_state"]
    assert ref["Total"] == ours.peak_bytes


@pytest.mark.parametrize("name", ["googlenet", "resnet50"])
def test_amp_training_step_matches_memtracker(name):
    """Mixed precision (autocast, fp32 master weights): the same program under MemTracker
    gives the same peak and categories within 1%."""
    make, chw = MODELS[name]
    model = make()
    ours = memory(model, chw, batch=BATCH, training=True, optimizer="adam", dtype="amp")
    ref = memtracker_peak(model, StepConfig(BATCH, chw, True, "adam", "amp"))
    mine = ours_as_memtracker(ours)
    assert not within_one_percent(mine, ref), within_one_percent(mine, ref)
    # fp32 master weights under autocast: parameters stay 4 bytes per element
    assert ref["Parameter"] == sum(p.numel() * 4 for p in model.parameters())
