"""``count_training_each``: one forward and backward counted for several optimizers; each
report is that optimizer's step. Hand arithmetic for a two-layer MLP (batch 5, 4 -> 3 -> 2):
23 parameter elements in 4 tensors; per-element optimizer costs from the table in
:mod:`inception_cost.counting.optimizer_formulas` (sgd momentum 2 + 2 FLOPs, 3 + 5 element
accesses; adamw 14 FLOPs + 1 per tensor, 19 + 2 accesses + an 8-byte step counter)."""
import pytest
import torch.nn as nn

from inception_cost.counting.optimizer_formulas import optimizer_spec
from inception_cost.counting.training import count_training, count_training_each
from inception_cost.errors import UsageError

B = 5
ELEMENTS = (4 * 3 + 3) + (3 * 2 + 2)        # weights + biases of both layers
TENSORS = 4
FWD_MACS = B * 4 * 3 + B * 3 * 2
# weight gradients of both layers; input gradient of the second only (the input needs none)
BWD_MACS = B * 4 * 3 + B * 3 * 2 + B * 3 * 2
OPT_FLOPS = {"sgd_momentum": 4 * ELEMENTS, "adamw": 14 * ELEMENTS + TENSORS, None: 0}
OPT_BYTES = {"sgd_momentum": 8 * 4 * ELEMENTS, "adamw": 21 * 4 * ELEMENTS + 8 * TENSORS, None: 0}
OPTIMIZERS = ["sgd_momentum", "adamw", None]


def _mlp():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


@pytest.fixture(scope="module")
def each():
    return dict(zip(OPTIMIZERS, count_training_each(_mlp(), (B, 4), optimizers=OPTIMIZERS)))


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_each_report_has_its_optimizers_hand_cost(each, opt):
    t = each[opt].totals()
    assert t["fwd_macs"] == FWD_MACS and t["bwd_macs"] == BWD_MACS
    assert t["opt_flops"] == OPT_FLOPS[opt]
    assert t["opt_bytes"] == OPT_BYTES[opt]
    assert t["step_flops"] == t["fwd_flops"] + t["bwd_flops"] + OPT_FLOPS[opt]
    assert each[opt].optimizer == optimizer_spec(opt)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_each_report_is_count_trainings(each, opt):
    alone = count_training(_mlp(), (B, 4), optimizer=opt)
    assert each[opt].layers.equals(alone.layers)
    assert each[opt].ops.equals(alone.ops)


def test_no_optimizer_list_is_a_usage_error():
    with pytest.raises(UsageError):
        count_training_each(_mlp(), (B, 4), optimizers=[])
