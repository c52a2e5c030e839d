"""Memory analysis checked against arithmetic done by hand in each test.

fp32 = 4 bytes per element.  The caller keeps the input batch alive during the forward
(as ``model(x)`` does), so it is part of every live total below.
"""
import pytest
import torch
import torch.nn as nn

from inception_cost.memory_analysis import fit_batch, memory

F32 = 4


def conv(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


def chain():
    with torch.device("meta"):
        return nn.Sequential(conv(1, 8), conv(8, 32), conv(32, 4))


# 1x16x16 input: 256 positions per channel.
A0, A1, A2, A3 = 1 * 256 * F32, 8 * 256 * F32, 32 * 256 * F32, 4 * 256 * F32
W1, W2, W3 = 8 * 1 * 9 * F32, 32 * 8 * 9 * F32, 4 * 32 * 9 * F32
PARAMS = W1 + W2 + W3  # 14112 bytes


def test_chain_inference_peak_is_two_largest_adjacent_activations_plus_params():
    r = memory(chain(), (1, 16, 16))
    # After conv1: x + a1; after conv2: x + a1 + a2 (a1 is still conv2's input);
    # after conv3: x + a2 + a3 (a1 died when Sequential rebound its input).
    assert r.parameter_bytes == PARAMS == 14112
    assert r.peak_bytes == PARAMS + A0 + A1 + A2 == 56096
    # conv "2" runs with less alive (a1 freed, a3 smaller than a2): it is not the peak
    last = r.timeline[r.timeline["module"] == "2"]["live_bytes"].iloc[-1]
    assert last == PARAMS + A0 + A2 + A3 == 56096 - 4096 < r.peak_bytes
    assert r.peak_module == "1" and r.peak_op == "aten.convolution"
    assert r.breakdown["parameters"] == PARAMS
    assert r.breakdown["transient"] == A0 + A1 + A2
    live = r.timeline.set_index("op")["live_bytes"]
    assert list(r.timeline[r.timeline["op"] == "aten.convolution"]["live_bytes"]) == [
        PARAMS + A0 + A1, PARAMS + A0 + A1 + A2, PARAMS + A0 + A2 + A3]
    assert len(live) == 4  # randn for the input + three convolutions


def test_chain_batch_scales_activations_only():
    r = memory(chain(), (1, 16, 16), batch=7)
    assert r.peak_bytes == PARAMS + 7 * (A0 + A1 + A2)


def _rounding_chain():
    with torch.device("meta"):
        return nn.Sequential(conv(1, 2), conv(2, 3))


# 1x12x12 input (144 positions).  Sizes chosen so that 512- and 256-byte blocks differ:
#   storage        exact   512-block  256-block
#   conv0.weight   72      512        256       (2*1*9*4)
#   conv1.weight   216     512        256       (3*2*9*4)
#   x              576     1024       768       (1*144*4)
#   a1             1152    1536       1280      (2*144*4)
#   a2             1728    2048       1792      (3*144*4)
# Peak (inference): during conv "1", with both weights, x, a1 (its input) and a2 alive.
R_EXACT = 72 + 216 + 576 + 1152 + 1728                    # 3744
R_512 = 512 + 512 + 1024 + 1536 + 2048                    # 5632
R_256 = 256 + 256 + 768 + 1280 + 1792                     # 4352


def test_allocator_rounding_rounds_each_storage_to_512_bytes():
    exact = memory(_rounding_chain(), (1, 12, 12))
    assert exact.rounding is False and exact.peak_bytes == R_EXACT == 3744
    r = memory(_rounding_chain(), (1, 12, 12), allocator_rounding=True)
    assert r.rounding is True
    assert r.peak_bytes == R_512 == 5632 != R_256
    assert r.parameter_bytes == 512 + 512
    assert r.breakdown["parameters"] == 1024
    # per-module rows use the rounded sizes too: each conv's output storage
    rows = r.modules.set_index("module")
    assert rows.loc["0", "output_bytes"] == 1536
    assert rows.loc["1", "output_bytes"] == 2048
    assert rows.loc["1", "live_forward_peak_bytes"] == R_512
    fit = fit_batch(_rounding_chain(), R_512, (1, 12, 12), allocator_rounding=True,
                    reserve=0)
    assert (fit.batch, fit.peak_bytes) == (1, R_512)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_precision_halves_every_storage(dtype):
    # bf16 and fp16: 2 bytes per element (fp32's 4 / 2)
    r = memory(chain(), (1, 16, 16), dtype=dtype)
    assert r.peak_bytes == (PARAMS + A0 + A1 + A2) // 2 == 28048
    assert r.parameter_bytes == (8 * 1 * 9 + 32 * 8 * 9 + 4 * 32 * 9) * 2
    fit = fit_batch(chain(), 28048, (1, 16, 16), dtype=dtype, reserve=0)
    assert (fit.batch, fit.peak_bytes) == (1, 28048)


def test_fit_matches_hand_division():
    # peak(n) = PARAMS + n * (A0 + A1 + A2), so the largest n is floor((B - PARAMS) / 41984).
    budget = PARAMS + 5 * (A0 + A1 + A2) + 100
    res = fit_batch(chain(), budget, (1, 16, 16), reserve=0)
    assert res.batch == 5
    assert res.peak_bytes == PARAMS + 5 * 41984
    assert res.next_peak_bytes == PARAMS + 6 * 41984 > budget
    big = fit_batch(chain(), PARAMS + 1000 * 41984, (1, 16, 16), reserve=0)
    assert big.batch == 1000
    # Parameters fit, one image does not: batch 0, and batch 1's peak is reported.
    none = fit_batch(chain(), PARAMS + 41984 - 1, (1, 16, 16), reserve=0)
    assert none.batch == 0 and none.next_peak_bytes == PARAMS + 41984


def test_chain_training_saves_each_conv_input():
    with torch.device("meta"):
        model = nn.Sequential(conv(1, 8), conv(8, 32))
    r = memory(model, (1, 16, 16), training=True)
    rows = r.modules.set_index("module")
    # ConvolutionBackward needs the input for the weight gradient: conv "0" saves x,
    # conv "1" saves conv0's output.
    assert rows.loc["0", "saved_bytes"] == A0
    assert rows.loc["1", "saved_bytes"] == A1
    fwd = r.timeline[r.timeline["phase"] == "forward"]
    end_of_model = fwd[fwd["module"] == "1"].iloc[-1]
    assert end_of_model["saved_activations"] == A0 + A1
    # The last op is conv "0"'s backward: it returns W1's gradient, which becomes a
    # .grad (category "gradients") only when AccumulateGrad runs after that op, as in
    # MemTracker; W2's gradient is filed already.
    tl = r.timeline
    i = tl.index[(tl["op"] == "aten.convolution_backward") & (tl["module"] == "0")][0]
    assert tl.at[i, "gradients"] == W2
    assert tl.at[i, "transient"] - tl.at[i - 1, "transient"] == W1  # x needs no gradient
    # Backward of conv "1" returns the gradient of its input (A1) and of W2.
    j = tl.index[(tl["op"] == "aten.convolution_backward") & (tl["module"] == "1")][0]
    assert tl.at[j, "live_bytes"] - tl.at[j - 1, "live_bytes"] == A1 + W2


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.c1, self.c2 = conv(1, 8), conv(8, 16), conv(16, 8)

    def forward(self, x):
        s = self.stem(x)
        t = self.c1(s)
        t = self.c2(t)
        return t + s


def test_residual_skip_stays_alive():
    with torch.device("meta"):
        res = Residual()
        plain = nn.Sequential(conv(1, 8), conv(8, 16), conv(16, 8))
    p = (8 * 9 + 16 * 8 * 9 + 8 * 16 * 9) * F32
    s, t1, t2 = 8 * 256 * F32, 16 * 256 * F32, 8 * 256 * F32
    r_res = memory(res, (1, 16, 16))
    r_plain = memory(plain, (1, 16, 16))
    # Residual, after c2: x + s (the skip) + t1 (c2's input) + t2.
    assert r_res.peak_bytes == p + A0 + s + t1 + t2 == 43296
    # Chain: the stem's output died after c1 returned.
    assert r_plain.peak_bytes == p + A0 + t1 + t2
    assert r_res.peak_bytes - r_plain.peak_bytes == s
    add = r_res.timeline[r_res.timeline["op"] == "aten.add.Tensor"].iloc[0]
    assert add["live_bytes"] == p + A0 + s + t2 + t2  # t1 freed, the sum allocated


@pytest.mark.parametrize("inplace", [True, False])
def test_inplace_relu_allocates_nothing(inplace):
    with torch.device("meta"):
        model = nn.Sequential(conv(1, 8), nn.ReLU(inplace=inplace))
    r = memory(model, (1, 16, 16))
    tl = r.timeline
    conv_live = tl[tl["op"] == "aten.convolution"]["live_bytes"].iloc[0]
    relu = tl[tl["module"] == "1"].iloc[0]
    assert relu["op"] == ("aten.relu_" if inplace else "aten.relu")
    rows = r.modules.set_index("module")
    if inplace:
        assert relu["live_bytes"] == conv_live
        assert rows.loc["1", "output_bytes"] == 0
    else:
        assert relu["live_bytes"] == conv_live + A1
        assert rows.loc["1", "output_bytes"] == A1


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = conv(1, 8)

    def forward(self, x):
        return self.c(x).view(x.shape[0], -1)


def test_view_allocates_nothing():
    with torch.device("meta"):
        model = Flat()
    r = memory(model, (1, 16, 16))
    tl = r.timeline
    view = tl[tl["op"] == "aten.view"].iloc[0]
    conv_row = tl[tl["op"] == "aten.convolution"].iloc[0]
    assert view["live_bytes"] == conv_row["live_bytes"] == W1 + A0 + A1
    assert r.peak_bytes == W1 + A0 + A1


def test_adam_state_is_two_moments_plus_step_counters():
    with torch.device("meta"):
        model = nn.Sequential(conv(1, 8), conv(8, 32))
    r = memory(model, (1, 16, 16), training=True, optimizer="adam")
    # exp_avg + exp_avg_sq per parameter, plus one fp32 scalar 'step' per parameter tensor.
    assert r.breakdown["optimizer_state"] == 2 * (W1 + W2) + 2 * F32
    # Steady state starts after zero_grad(set_to_none=True): no gradient from the previous
    # step is alive when this step's input is made (the first timeline row).
    start = r.timeline.iloc[0]
    assert start["gradients"] == 0
    assert start["live_bytes"] == (W1 + W2) + 2 * (W1 + W2) + 2 * F32 + A0
    first = memory(model, (1, 16, 16), training=True, optimizer="adam", step="first")
    # First step: the state is created inside step(), after backward.
    assert first.timeline[first.timeline["phase"] != "optimizer"]["optimizer_state"].max() == 0
    assert first.timeline["optimizer_state"].iloc[-1] == 2 * (W1 + W2) + 2 * F32


def test_amp_casts_weights_and_activations_to_fp16():
    """dtype='amp': fp32 parameters and input; autocast makes fp16 copies of each conv's
    weight (kept in autocast's cache) and of the fp32 input, and convs write fp16."""
    with torch.device("meta"):
        model = nn.Sequential(conv(1, 8), conv(8, 32))
    r = memory(model, (1, 16, 16), dtype="amp")
    rows = r.modules.set_index("module")
    assert rows.loc["0", "output_bytes"] == W1 // 2 + A0 // 2 + A1 // 2
    assert rows.loc["1", "output_bytes"] == W2 // 2 + A2 // 2
    # After conv "1": fp32 params and input, both fp16 weight copies, both fp16 outputs
    # (the fp16 copy of the input died once conv "0" had run).
    assert r.peak_bytes == (W1 + W2) + A0 + W1 // 2 + A1 // 2 + W2 // 2 + A2 // 2


def test_top_level_api_is_the_memory_function():
    """The public ``inception_cost.memory`` is the analysis' ``memory`` behind the layer that
    also takes model names (``inception_cost/by_name.py``)."""
    import inception_cost
    from inception_cost.memory_analysis.api import memory as api_memory
    assert inception_cost.memory.__wrapped__ is api_memory
    assert inception_cost.memory(chain(), (1, 16, 16)).peak_bytes == PARAMS + A0 + A1 + A2
