"""``analyse_step``: one training step run once under one op capture feeding the training
counter and the memory tracker equals ``count_training`` and ``memory`` run apart, row for
row, and hand arithmetic on a one-matrix net; attention models (fake CPU tensors, as
``memory`` runs them) equal ``count_training`` on CPU, with the attention rows by hand."""
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from inception_cost import analyse_step, memory
from inception_cost.counting.registry import Cost, GradCost, OpCost
from inception_cost.counting.step_program import default_loss
from inception_cost.counting.training import count_training
from inception_cost.memory_analysis.step_config import outputs

aten = torch.ops.aten


def _target_loss(batch: int, device: str = "meta"):
    """The step's loss with its targets made beforehand (as analyse_step makes them with the
    batch): the default cross-entropy (+ 0.3 x each auxiliary head's)."""
    target = torch.zeros(batch, dtype=torch.long, device=device)
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


# --------------------------------------------------------------------------- #
# attention models: run on fake CPU tensors, as memory runs them
# --------------------------------------------------------------------------- #
B, L, E, H = 2, 4, 8, 2          # batch, tokens, embedding, heads
HD = E // H                      # head dim


class TinyAttention(nn.Module):
    """One nn.MultiheadAttention (need_weights left True: its Python bmm/softmax path) and
    one nn.TransformerEncoderLayer (need_weights=False inside; with ``dropout`` 0 the CPU
    dispatcher gives its attention the fused flash kernel), then a 3-class head."""

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.mha = nn.MultiheadAttention(E, H, batch_first=True)
        self.enc = nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=dropout,
                                              batch_first=True)
        self.head = nn.Linear(E, 3)

    def forward(self, x):
        a, _ = self.mha(x, x, x)
        return self.head(self.enc(a).mean(1))


@pytest.fixture(scope="module")
def tiny():
    return TinyAttention()


@pytest.fixture(scope="module")
def tiny_step(tiny):
    return analyse_step(tiny, inputs=torch.zeros(B, L, E), optimizer="sgd", device="cpu")


def _rows(report, module, phase):
    ops = report.ops
    return ops[(ops["module"] == module) & (ops["phase"] == phase)]


def test_attention_rows_by_hand(tiny_step):
    """B=2, L=4, E=8, 2 heads of 4.  mha's forward: q k^T is (B*H, L, HD) @ (B*H, HD, L),
    B*H*L*L*HD = 256 MACs, then scores @ v another 256.  enc's attention is one CPU flash
    kernel: B*H*L*L*(HD + HD) = 512 MACs forward; its backward recomputes q k^T and runs
    four more products: 5 x 256 = 1280 MACs.  Its scratch is in the memory figures."""
    assert list(_rows(tiny_step.training, "mha", "forward").query("op == 'bmm'")["macs"]) \
        == [B * H * L * L * HD] * 2 == [256, 256]
    fwd = _rows(tiny_step.training, "enc.self_attn", "forward")
    flash = fwd[fwd["op"] == "_scaled_dot_product_flash_attention_for_cpu"]
    assert list(flash["macs"]) == [B * H * L * L * 2 * HD] == [512]
    bwd = _rows(tiny_step.training, "enc.self_attn", "backward")
    assert list(bwd[bwd["op"].str.endswith("attention_for_cpu_backward")]["macs"]) \
        == [5 * B * H * L * L * HD] == [1280]
    assert int(tiny_step.memory.timeline["workspace"].max()) > 0


def test_attention_step_equals_count_training_on_cpu_and_memory_apart(tiny, tiny_step):
    """Every row equals count_training run on CPU tensors (the same attention kernels as
    the fake CPU run) and memory(..., foreach=False) on the same target."""
    x = torch.zeros(B, L, E)
    _same_training(tiny_step.training, count_training(tiny, inputs=x, optimizer="sgd",
                                                      device="cpu",
                                                      loss=_target_loss(B, "cpu")))
    _same_memory(tiny_step.memory, memory(tiny, inputs=x, training=True, optimizer="sgd",
                                          foreach=False, device="cpu"))


def test_device_queries_of_fake_tensors_are_not_timeline_ops(tiny, tiny_step):
    """Under fake tensors ``x.device`` reaches dispatch as prim.device, a metadata query
    (it was 329 of 483 timeline rows of an encoder layer's step): no consumer sees it, so
    the memory timeline has no prim op (the optimizer's profiler markers stay), and no
    counted row is a query."""
    for report in (tiny_step.memory, memory(tiny, inputs=torch.zeros(B, L, E), training=True,
                                            optimizer="sgd", device="cpu")):
        ops = report.timeline["op"]
        assert ops.str.startswith("aten.").sum() > 100
        assert not ops.str.startswith("prim.").any(), sorted(set(ops[ops.str.startswith("prim.")]))
    assert "device" not in set(tiny_step.training.ops["op"])


def test_count_training_on_meta_differs_by_the_flash_recompute(tiny, tiny_step):
    """count_training on meta runs enc's attention as the math path: the same forward MACs,
    and a backward short of the one q k^T product the flash backward recomputes,
    B*H*L*L*HD = 256 MACs."""
    meta = count_training(tiny, inputs=torch.zeros(B, L, E), optimizer="sgd",
                          loss=_target_loss(B)).totals()
    both = tiny_step.training.totals()
    assert both["fwd_macs"] == meta["fwd_macs"]
    assert both["bwd_macs"] - meta["bwd_macs"] == B * H * L * L * HD == 256


def test_attention_with_dropout_equals_count_training_on_meta():
    """With attention dropout the CPU takes the math path too: the step on fake CPU tensors
    then equals count_training on meta, row for row."""
    model, x = TinyAttention(dropout=0.1), torch.zeros(B, L, E)
    both = analyse_step(model, inputs=x, optimizer="sgd")
    _same_training(both.training, count_training(model, inputs=x, optimizer="sgd",
                                                 loss=_target_loss(B)))
    _same_memory(both.memory, memory(model, inputs=x, training=True, optimizer="sgd",
                                     foreach=False))


def test_small_vit_step_equals_the_analyses_apart():
    """torchvision's VisionTransformer (32x32 image, patch 16: 4 patches + the class token,
    2 layers, 2 heads, width 16), batch 2, Adam, target cuda: the attention inside
    nn.MultiheadAttention is the CPU flash kernel whatever the target, so the counts equal
    count_training on CPU, the memory that of memory(..., foreach=False) for cuda."""
    vit = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=2,
                                               num_heads=2, hidden_dim=16, mlp_dim=32,
                                               num_classes=10)
    both = analyse_step(vit, (3, 32, 32), batch=2, optimizer="adam")
    _same_training(both.training, count_training(vit, (2, 3, 32, 32), optimizer="adam",
                                                 device="cpu", loss=_target_loss(2, "cpu")))
    _same_memory(both.memory, memory(vit, (3, 32, 32), batch=2, training=True,
                                     optimizer="adam", foreach=False))
    flash = both.training.ops[both.training.ops["op"]
                              == "_scaled_dot_product_flash_attention_for_cpu"]
    assert list(flash["macs"]) == [2 * 2 * 5 * 5 * (8 + 8)] * 2      # B*H*L*L*2*HD per layer


class DirectAttention(nn.Module):
    """F.scaled_dot_product_attention called directly on x scaled by three vectors."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3, 16))

    def forward(self, x):
        return F.scaled_dot_product_attention(x * self.w[0], x * self.w[1], x * self.w[2])


def test_direct_attention_counts_the_targets_kernel():
    """A direct call runs the target's fused kernel (here the CPU's): the counts equal
    count_training on CPU; its backward is the fused one, 5 x B*H*L*L*HD MACs
    (B=2, H=4, L=8, HD=16: 5 x 4096)."""
    model = DirectAttention()
    both = analyse_step(model, (4, 8, 16), batch=2, optimizer="sgd", device="cpu")
    _same_training(both.training, count_training(model, (2, 4, 8, 16), optimizer="sgd",
                                                 device="cpu", loss=_target_loss(2, "cpu")))
    _same_memory(both.memory, memory(model, (4, 8, 16), batch=2, training=True,
                                     optimizer="sgd", foreach=False, device="cpu"))
    ops = both.training.ops
    assert list(ops[ops["op"].str.endswith("attention_for_cpu_backward")]["macs"]) \
        == [5 * 2 * 4 * 8 * 8 * 16]
