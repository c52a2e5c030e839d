"""Fused attention: ``F.scaled_dot_product_attention`` called directly (as timm models do)
is predicted as the kernel the target device runs, not the math path the meta device
takes.  Reference: PyTorch's MemTracker on fake CPU tensors, where the CPU dispatcher
itself picks the kernel."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from inception_cost.memory_analysis import memory
from inception_cost.memory_analysis.attention import cuda_backend
from inception_cost.memory_analysis.real import real_cpu_peak
from inception_cost.memory_analysis.reference import memtracker_peak
from inception_cost.memory_analysis.step_config import StepConfig

pytest.importorskip("torch.distributed._tools.mem_tracker")

# (heads, sequence length, head dim) given as the input's (C, H, W); batch 2.
SDPA_INPUT = (4, 256, 64)


class OneAttention(nn.Module):
    """q, k, v = x scaled by three learned vectors; one scaled_dot_product_attention."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3, head_dim))

    def forward(self, x):
        return F.scaled_dot_product_attention(x * self.w[0], x * self.w[1], x * self.w[2])


class TimmBlock(nn.Module):
    """One timm ViT block (dim 192, 3 heads: deit_tiny's) on 197 tokens."""

    def __init__(self):
        super().__init__()
        vt = pytest.importorskip("timm.models.vision_transformer")
        self.block = vt.Block(192, 3)

    def forward(self, x):            # x: (N, 1, 197, 192)
        return self.block(x.flatten(1, 2))


def _close(ours: int, ref: int) -> bool:
    return abs(ours - ref) <= 0.01 * ref


@pytest.mark.parametrize("training", [False, True], ids=["inference", "train_sgd"])
@pytest.mark.parametrize("make,chw", [(lambda: OneAttention(64), SDPA_INPUT),
                                      (TimmBlock, (1, 197, 192))], ids=["sdpa", "vit_block"])
def test_fused_attention_matches_memtracker_on_cpu(make, chw, training):
    model = make()
    opt = "sgd" if training else "none"
    ours = memory(model, chw, batch=2, training=training, optimizer=opt, device="cpu",
                  workspace=False)          # MemTracker sees storages only
    ref = memtracker_peak(model, StepConfig(2, chw, training, opt, device="cpu"))
    assert ours.attention == {"flash": 1}
    assert _close(ours.peak_bytes, ref["Total"]), (ours.peak_bytes, ref["Total"])


def test_single_call_inference_equals_the_real_cpu_run():
    """The real CPU peak (profiler allocation events) of one attention call: storages as
    MemTracker sees them plus the CPU flash kernel's per-thread tile (workspace.py)."""
    model = OneAttention(64)
    ours = memory(model, SDPA_INPUT, batch=2, device="cpu")
    real = real_cpu_peak(OneAttention(64), StepConfig(2, SDPA_INPUT, device="cpu"))
    # per thread: 64 x 256 score tile + max and sum (64 each) + 64 x 64 accumulator, fp32
    tile = (64 * 256 + 2 * 64 + 64 * 64) * 4
    assert ours.breakdown["workspace"] == real.threads * tile
    assert abs(ours.peak_bytes - real.peak_bytes) <= 0.01 * real.peak_bytes, \
        (ours.peak_bytes, real.peak_bytes)


def test_single_call_training_equals_the_real_cpu_run():
    """Training peaks in the fused backward: per thread two 64 x 256 fp32 tiles and a
    64-float row sum, plus a contiguous copy of grad_output (2 x 4 x 256 x 64 fp32: the
    loss hands it in (B, H, L, E) layout, the kernel wants (B, L, H, E))."""
    model = OneAttention(64)
    cfg = StepConfig(2, SDPA_INPUT, True, "sgd", device="cpu")
    ours = memory(model, SDPA_INPUT, batch=2, training=True, optimizer="sgd", device="cpu")
    real = real_cpu_peak(OneAttention(64), cfg)
    assert ours.peak_op == "aten._scaled_dot_product_flash_attention_for_cpu_backward"
    assert ours.breakdown["workspace"] == \
        real.threads * (2 * 64 * 256 + 64) * 4 + 2 * 4 * 256 * 64 * 4
    assert abs(ours.peak_bytes - real.peak_bytes) <= 0.01 * real.peak_bytes, \
        (ours.peak_bytes, real.peak_bytes)


def test_no_attention_matrix_is_saved():
    """Saved for backward by the fused kernel: q, k, v (the three products, each 2 x 4 x
    256 x 64 fp32), the output (same size) and a float32 log-sum-exp per query row
    (2 x 4 x 256); the math path would also save the 2 x 4 x 256 x 256 softmax.  Besides:
    the input x (saved by the three multiplications), the loss's log-softmax (one more
    2 x 65536 fp32) and the int64 targets (2 x 8 bytes)."""
    model = OneAttention(64)
    rep = memory(model, SDPA_INPUT, batch=2, training=True, optimizer="sgd", device="cpu")
    qkv = 2 * 4 * 256 * 64 * 4
    lse = 2 * 4 * 256 * 4
    fwd = rep.timeline[rep.timeline["phase"] == "forward"]
    assert int(fwd["saved_activations"].max()) == 6 * qkv + lse + 16


def test_cuda_priority():
    """CUDA: flash for fp16/bf16 without a mask, memory-efficient for fp32 or a mask."""
    def a(dtype, mask=None, head=64):
        q = torch.empty(2, 4, 16, head, dtype=dtype, device="meta")
        return {"query": q, "key": q, "value": q, "attn_mask": mask}
    assert cuda_backend(a(torch.float16)) == "flash"
    assert cuda_backend(a(torch.float32)) == "efficient"
    assert cuda_backend(a(torch.bfloat16, torch.empty(16, 16, device="meta"))) == "efficient"
    assert cuda_backend(a(torch.float32, head=6)) == "math"
    rep = memory(OneAttention(64), SDPA_INPUT, batch=2)
    assert rep.device == "cuda" and rep.attention == {"efficient": 1}
