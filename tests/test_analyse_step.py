"""``analyse_step``: one training step run once under one op capture feeding the training
counter and the memory tracker equals ``count_training`` and ``memory`` run apart, row for
row, and hand arithmetic on a one-matrix net."""
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torchvision

from inception_cost import UsageError, analyse_step, memory
from inception_cost.counting.registry import Cost, GradCost, OpCost
from inception_cost.counting.step_program import default_loss
from inception_cost.counting.training import count_training
from inception_cost.memory_analysis.step_config import outputs

aten = torch.ops.aten


def _target_loss(batch: int):
    """The step's loss with its targets made beforehand (as analyse_step makes them with the
    batch): the default cross-entropy (+ 0.3 x each auxiliary head's)."""
    target = torch.zeros(batch, dtype=torch.long, device="meta")
    return lambda out: default_loss(outputs(out), 0.3, target)


def _same_memory(a, b):
    for f in ("peak_bytes", "peak_op_index", "peak_op", "peak_module", "peak_phase",
              "breakdown", "detail", "parameter_bytes", "activation_sum_bytes", "ops"):
        assert getattr(a, f) == getattr(b, f), f
    pd.testing.assert_frame_equal(a.timeline, b.timeline)
    pd.testing.assert_frame_equal(a.modules, b.modules)


def _same_training(a, b):
    pd.testing.assert_frame_equal(a.layers, b.layers)
    pd.testing.assert_frame_equal(a.ops, b.ops)
    assert a.totals() == b.totals() and a.aux_totals() == b.aux_totals()
    assert (a.frozen, a.aux_modules, a.input_shapes) == (b.frozen, b.aux_modules, b.input_shapes)


@pytest.fixture(scope="module")
def googlenet():
    return torchvision.models.googlenet(init_weights=False)


@pytest.mark.parametrize("optimizer,freeze", [("adam", None), (None, "conv1")])
def test_googlenet_step_equals_count_training_and_memory_apart(googlenet, optimizer, freeze):
    """GoogLeNet (aux heads), batch 2: every layer and op row of the counts, every memory
    figure and timeline row, equal to the two analyses run apart (memory with the
    per-parameter optimizer loop, the implementation the counts use; Adam's state tensors
    are charged to the module owning their parameter; plain SGD: the one-matrix net below).
    With conv1 frozen its batch norm needs no gradient: the memory tracker must still see it
    run."""
    both = analyse_step(googlenet, (3, 224, 224), batch=2, optimizer=optimizer, freeze=freeze)
    _same_training(both.training, count_training(googlenet, (2, 3, 224, 224), freeze=freeze,
                                                 optimizer=optimizer, loss=_target_loss(2)))
    _same_memory(both.memory, memory(googlenet, (3, 224, 224), batch=2, training=True,
                                     optimizer=optimizer, foreach=False, freeze=freeze))
    assert both.training.aux_modules == ["aux1", "aux2"]


def test_default_count_training_differs_only_by_its_target_fill(googlenet):
    """count_training's default loss fills class-0 targets inside the loss, once per output
    (GoogLeNet in training: the main and two auxiliary outputs): an int64 per sample,
    3 x 8 x 2 = 48 bytes written on the (loss) row, 0 FLOPs; nothing else differs."""
    both = analyse_step(googlenet, (3, 224, 224), batch=2, optimizer=None)
    default = count_training(googlenet, (2, 3, 224, 224), optimizer=None)
    a = both.training.layers.set_index("module")
    b = default.layers.set_index("module")
    diff = {(m, c): int(b.loc[m, c]) - int(a.loc[m, c])
            for m in a.index for c in ("fwd_bytes", "fwd_flops", "bwd_flops", "step_bytes")
            if int(b.loc[m, c]) != int(a.loc[m, c])}
    assert diff == {("(loss)", "fwd_bytes"): 3 * 8 * 2, ("(loss)", "step_bytes"): 3 * 8 * 2}


class MatMul(nn.Module):
    """logits = x @ W with W (5, 3): one aten.mm forward; in backward (the input needs no
    gradient) one mm, dL/dW = x^T g."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(5, 3))

    def forward(self, x):
        return x.mm(self.w)


def _mm3(call):
    """A chosen formula: n*k*m MACs, 3 FLOPs per MAC."""
    (n, k), (_, m) = call.in_shapes[0], call.in_shapes[1]
    return Cost(n * k * m, 3 * n * k * m)


def _input_plus_one(call):
    """A chosen split: the call's _mm3 cost as input-gradient work, plus 1 weight FLOP."""
    return GradCost(input=_mm3(call), weight=Cost(0, 1))


def test_formula_given_once_reaches_forward_backward_and_split_by_hand():
    """Batch 4, W 5x3, formulas={mm: OpCost(forward=_mm3, split=_input_plus_one)} given once:
    forward mm (4,5)@(5,3) = 60 MACs, 180 FLOPs; the one backward mm x^T(5,4) @ g(4,3) = 60
    MACs: input 60 MACs / 180 FLOPs, weight 0 / 1.  Bytes of the forward mm: reads x
    4*5*4 = 80 and W 5*3*4 = 60, writes 4*3*4 = 48: 188.  Memory: W is 60 bytes of
    parameters, and its gradient 60 bytes while it lives.  Both equal the analyses apart."""
    entry = {aten.mm: OpCost(forward=_mm3, split=_input_plus_one)}
    x = torch.zeros(4, 5)
    both = analyse_step(MatMul(), inputs=x, optimizer="sgd", formulas=entry)
    row = both.training.layers.set_index("module").loc[""]      # the net itself owns W
    assert (row.fwd_macs, row.fwd_flops) == (60, 180)
    assert (row.bwd_input_macs, row.bwd_input_flops, row.bwd_weight_macs,
            row.bwd_weight_flops) == (60, 180, 0, 1)
    mm = both.training.ops[(both.training.ops["op"] == "mm")
                           & (both.training.ops["phase"] == "forward")]
    assert list(mm["bytes"]) == [80 + 60 + 48]
    assert both.memory.parameter_bytes == 60
    assert int(both.memory.timeline["gradients"].max()) == 60      # dL/dW while it lives
    _same_training(both.training, count_training(MatMul(), inputs=x, optimizer="sgd",
                                                 formulas=entry, loss=_target_loss(4)))
    _same_memory(both.memory, memory(MatMul(), inputs=x, training=True, optimizer="sgd",
                                     foreach=False))


def test_attention_models_are_refused_in_one_line():
    """memory runs attention models on fake CPU tensors with the target's fused kernels, which
    count_training on meta does not: analyse_step refuses them rather than differ."""
    layer = nn.TransformerEncoderLayer(8, 2, batch_first=True)
    with pytest.raises(UsageError, match="run count_training and memory apart"):
        analyse_step(layer, inputs=torch.zeros(2, 4, 8))
