"""Peak and per-category bytes against PyTorch's MemTracker on a step written HERE, from
PyTorch's own API: ``model(x)``, ``F.cross_entropy``, ``loss.backward()``,
``torch.optim.Adam(...).step()``, ``zero_grad(set_to_none=True)``, on fake CPU tensors
(FakeTensorMode).  Nothing of ``inception_cost.memory_analysis`` (step.py, run.py,
reference.py) runs on the reference side, so a slip in our step program (a warm-up that
keeps its gradients, a wrong loss, a missed ``del``) moves only our number.

MemTracker's categories differ from ours by design (see the README's "Memory" section):
every storage allocated in forward is "Activation", in backward "Temp", inside
``optimizer.step()`` "Optstate".  ``memtracker_step.as_memtracker`` folds ours into its names.

Inputs are small where the model allows it (the time is MemTracker's per-op cost, not
the tensor sizes); GoogLeNet and Inception-v3 keep 224/299 because their auxiliary
heads need them.
"""
from __future__ import annotations

import time

import pytest
import torch

from inception_cost import build
from inception_cost.memory_analysis import memory

pytest.importorskip("torch.distributed._tools.mem_tracker")
from memtracker_step import as_memtracker, reference_step  # noqa: E402

BATCH = 2


def _vit(layers: int = 12):
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        # vit_b_16's blocks (768 wide, 12 heads, MLP 3072) on a 32x32 image: 4 patches
        return torchvision.models.VisionTransformer(32, 16, layers, 12, 768, 3072)


MODELS = {
    "googlenet": (lambda: build("googlenet", aux=True), (3, 224, 224)),
    "inception_v3": (lambda: build("inception_v3", aux=True), (3, 299, 299)),
    "resnet50": (lambda: build("resnet50"), (3, 32, 32)),
    "vgg16": (lambda: build("vgg16"), (3, 32, 32)),
    "vit_b_16": (lambda: _vit(12), (3, 32, 32)),
}
# MemTracker's cost per op grows with the number of live tensors: the ViT trains with 2 of
# its 12 blocks, GoogLeNet with SGD + momentum and Inception-v3 (the largest graph) with
# plain SGD, whose foreach steps make far fewer tensors than Adam's.
TRAIN_MODELS = {"googlenet": "momentum", "inception_v3": "sgd", "resnet50": "adam",
                "vgg16": "adam", "vit_b_16": "adam"}


def off_by_more_than_one_percent(ours: dict, ref: dict) -> list[str]:
    bad = []
    for k, v in ref.items():
        if abs(ours[k] - v) > max(0.01 * v, 64):   # 64 B floor for near-empty categories
            bad.append(f"{k}: ours {ours[k]:,} vs MemTracker {v:,}")
    return bad


@pytest.mark.parametrize("name", list(MODELS))
def test_inference_peak_and_categories_match_memtracker(name):
    make, chw = MODELS[name]
    model = make()
    ours = memory(model, chw, batch=BATCH)
    ref = reference_step(model, chw, BATCH, training=False)
    bad = off_by_more_than_one_percent(as_memtracker(ours), ref)
    assert not bad, bad
    # hand: fp32 parameters, 4 bytes per element
    assert ours.detail["parameters"] == sum(p.numel() * 4 for p in model.parameters())


@pytest.mark.parametrize("name", list(TRAIN_MODELS))
def test_training_step_matches_memtracker(name):
    optimizer = TRAIN_MODELS[name]
    make, chw = MODELS[name]
    model = _vit(2) if name == "vit_b_16" else make()
    t0 = time.perf_counter()
    ours = memory(model, chw, batch=BATCH, training=True, optimizer=optimizer)
    t1 = time.perf_counter()
    ref = reference_step(model, chw, BATCH, training=True, optimizer=optimizer)
    print(f"{name} train: ours {t1 - t0:.2f}s, MemTracker {time.perf_counter() - t1:.2f}s")
    bad = off_by_more_than_one_percent(as_memtracker(ours), ref)
    assert not bad, bad
    params = list(model.parameters())
    assert ours.detail["parameters"] == sum(p.numel() * 4 for p in params)
    # Steady state, by hand: Adam's two fp32 moments + one 4-byte step per parameter
    # tensor; SGD with momentum one fp32 buffer per element; plain SGD nothing.
    nbytes = sum(p.numel() * 4 for p in params)
    state = {"adam": 2 * nbytes + 4 * len(params), "momentum": nbytes, "sgd": 0}[optimizer]
    assert ours.breakdown["optimizer_state"] == state


def test_by_design_forward_storages_are_all_activations_to_memtracker():
    """Inference under no_grad saves nothing: MemTracker's "Activation" is exactly our
    transient forward bytes; in training it is our saved + transient forward bytes."""
    make, chw = MODELS["vgg16"]
    model = make()
    inf = memory(model, chw, batch=BATCH)
    ref = reference_step(model, chw, BATCH, training=False)
    assert inf.breakdown["saved_activations"] == 0
    assert ref["Activation"] == inf.detail["transient_forward"]
    tr = memory(model, chw, batch=BATCH, training=True, optimizer="sgd")
    ref_tr = reference_step(model, chw, BATCH, training=True, optimizer="sgd")
    assert tr.breakdown["saved_activations"] > 0.9 * ref_tr["Activation"]
    assert abs(ref_tr["Activation"] - (tr.breakdown["saved_activations"]
                                       + tr.detail["transient_forward"])) <= 64
    # SGD without momentum keeps no state; steady state starts with no .grad left over
    assert ref_tr["Optstate"] == tr.breakdown["optimizer_state"] == 0


def test_by_design_optimizer_temporaries_are_optstate_to_memtracker():
    """First Adam step on a model whose peak falls inside optimizer.step(): MemTracker's
    "Optstate" = our optimizer_state + the step's temporaries (our transient)."""
    make, chw = MODELS["vgg16"]
    model = make()
    ours = memory(model, chw, batch=1, training=True, optimizer="adam", step="first")
    ref = reference_step(model, chw, 1, training=True, step="first")
    assert ours.peak_phase == "optimizer"
    assert ours.detail["transient_optimizer"] > 0
    assert ref["Optstate"] == ours.detail["optimizer_state"] + ours.detail["transient_optimizer"]
    assert ref["Optstate"] > ours.breakdown["optimizer_state"]
    assert ref["Total"] == ours.peak_bytes


def _resnet18():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        return torchvision.models.resnet18()


@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
def test_amp_training_step_matches_memtracker(name):
    """Mixed precision (autocast fp16, fp32 master weights) against the same step written
    under ``torch.autocast`` here: peak and categories within 1%.  resnet18 (batch norm
    kept in fp32 under autocast) has a third of resnet50's ops under MemTracker."""
    make, chw = MODELS.get(name, (_resnet18, (3, 32, 32)))
    model = make()
    ours = memory(model, chw, batch=BATCH, training=True, optimizer="adam", dtype="amp")
    ref = reference_step(model, chw, BATCH, training=True, amp=True)
    bad = off_by_more_than_one_percent(as_memtracker(ours), ref)
    assert not bad, bad
    # fp32 master weights under autocast: parameters stay 4 bytes per element
    assert ours.detail["parameters"] == sum(p.numel() * 4 for p in model.parameters())
