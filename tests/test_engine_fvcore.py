"""The fvcore convention equals FlopCountAnalysis(...).total() and reports what fvcore skips;
by_module(mode="caller"/"owner") reproduces fvcore's ancestor modes."""
import logging
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from inception_cost import count
from micro import NonForwardNet, SharedModuleNet

warnings.filterwarnings("ignore")
logging.getLogger("fvcore").setLevel(logging.ERROR)
FlopCountAnalysis = pytest.importorskip("fvcore.nn").FlopCountAnalysis


def fvcore(model, inputs, mode=None):
    fca = FlopCountAnalysis(model, inputs)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    if mode:
        fca.ancestor_mode(mode)
    return fca


class SDPA(nn.Module):
    def forward(self, q):
        return F.scaled_dot_product_attention(q, q, q)


class BAddBMM(nn.Module):
    def forward(self, x):
        return torch.baddbmm(x, x, x)


# (model, inputs, the MACs fvcore skips, by hand)
BLIND = {
    # QK^T and AV: 2 * (2*4 heads * 8*8 * 16) = 16,384
    "sdpa": (SDPA(), (torch.randn(2, 4, 8, 16),), 2 * 2 * 4 * 8 * 8 * 16),
    # padding='same' 3x3, 3->4 on 8x8: 8*8*4*27 = 6,912 (aten::_convolution_mode)
    "conv_same": (nn.Conv2d(3, 4, 3, padding="same"), (torch.randn(1, 3, 8, 8),), 8 * 8 * 4 * 27),
    # LSTM(8,16), 5 steps x batch 2: 4 gates * 16 * (8 + 16) per sample-step = 1,536 -> 15,360
    "lstm": (nn.LSTM(8, 16), (torch.randn(5, 2, 8),), 5 * 2 * 4 * 16 * (8 + 16)),
    # GRU: 3 gates -> 5*2*3*16*24 = 11,520
    "gru": (nn.GRU(8, 16), (torch.randn(5, 2, 8),), 5 * 2 * 3 * 16 * (8 + 16)),
    # baddbmm (2,4,4) @ (2,4,4): 2*4*4*4 = 128
    "baddbmm": (BAddBMM(), (torch.randn(2, 4, 4),), 2 * 4 * 4 * 4),
    # Bilinear(10, 12, 7) on batch 3: 3*7*10*12 = 2,520
    "bilinear": (nn.Bilinear(10, 12, 7), (torch.randn(3, 10), torch.randn(3, 12)), 3 * 7 * 10 * 12),
}


@pytest.mark.parametrize("case", sorted(BLIND))
def test_fvcore_blind_spots(case):
    model, inputs, skipped = BLIND[case]
    r = count(model, inputs=inputs, convention="fvcore")
    assert r.total_flops == fvcore(model, inputs).total() == 0
    assert int(r.fvcore_blind["macs"].sum()) == skipped
    assert r.fvcore_blind_line() == f"fvcore does not count: {skipped:,} MACs in 1 ops " \
                                    f"({r.fvcore_blind['op'].iloc[0]} x1)"
    # the native convention counts that work
    assert count(model, inputs=inputs).total_macs == skipped


class Mixed(nn.Module):
    """Counted (linear, conv) and skipped (lstm, conv 'same') work side by side."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3)
        self.same = nn.Conv1d(8, 8, 3, padding="same")
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = self.same(self.conv(x)).transpose(1, 2)
        y, _ = self.lstm(y)
        return self.fc(y)


def test_fvcore_total_with_blind_spots_beside_counted_work():
    model, x = Mixed(), (torch.randn(2, 4, 20),)
    r = count(model, inputs=x, convention="fvcore")
    assert r.total_flops == fvcore(model, x).total()
    # conv 'same' 8->8 k3 on 18: 2*18*8*24 = 6,912; lstm 2*18 steps * 4*8*(8+8) = 18,432
    assert int(r.fvcore_blind["macs"].sum()) == 2 * 18 * 8 * 24 + 2 * 18 * 4 * 8 * 16
    assert len(r.fvcore_blind) == 2


class SelfAttention(nn.Module):
    def __init__(self, need_weights, masked):
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 2)
        self.need_weights, self.masked = need_weights, masked

    def forward(self, x):
        mask = torch.zeros(x.shape[0], x.shape[0], device=x.device) if self.masked else None
        return self.mha(x, x, x, need_weights=self.need_weights, attn_mask=mask)[0]


@pytest.mark.parametrize("need_weights,masked,skipped", [
    (True, False, 0),
    # need_weights=False: the attention is one SDPA call, skipped by fvcore:
    # QK^T + AV = 2 x (2 batch x 2 heads) x 5x5 x 8 = 1,600 MACs
    (False, False, 2 * 4 * 5 * 5 * 8),
    (False, True, 2 * 4 * 5 * 5 * 8),
    # need_weights=True with a mask: QK^T is a baddbmm (skipped, 800), AV a bmm (counted)
    (True, True, 4 * 5 * 5 * 8),
])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_attention_inside_multihead_attention(need_weights, masked, skipped, device):
    """F.multi_head_attention_forward hides its inner calls from a function mode; the
    skipped attention is still found at the dispatch level, on meta and CPU kernels alike."""
    model, x = SelfAttention(need_weights, masked), (torch.randn(5, 2, 16),)
    r = count(model, inputs=x, convention="fvcore", device=device)
    assert r.total_flops == fvcore(model, x).total()
    blind = r.fvcore_blind
    assert (int(blind["macs"].sum()) if blind is not None else 0) == skipped
    assert len(blind) == (1 if skipped else 0)


def test_torchvision_vit_equals_fvcore():
    import torchvision
    model, x = torchvision.models.vit_b_16(image_size=32), (torch.randn(1, 3, 32, 32),)
    r = count(model, inputs=x, convention="fvcore")
    assert r.total_flops == fvcore(model, x).total()
    # 12 encoder layers x SDPA over 5 tokens, 768 wide: 12 x 2 x 5*5*768 = 460,800 MACs skipped
    assert int(r.fvcore_blind["macs"].sum()) == 12 * 2 * 5 * 5 * 768 and len(r.fvcore_blind) == 12


def test_multihead_attention_equals_fvcore():
    for mha, x in [(nn.MultiheadAttention(16, 2), (torch.randn(5, 2, 16),) * 3),
                   (nn.MultiheadAttention(16, 2, batch_first=True).eval(), (torch.randn(2, 5, 16),) * 3)]:
        assert count(mha, inputs=x, convention="fvcore").total_flops == fvcore(mha, x).total()


def _flops(df):
    return {m: int(f) for m, f in zip(df["module"], df["flops"]) if int(f)}


@pytest.mark.parametrize("mode", ["caller", "owner"])
@pytest.mark.parametrize("net", [SharedModuleNet, NonForwardNet])
def test_by_module_modes_equal_fvcore(net, mode):
    model, x = net(), (torch.randn(1, 10),)
    ours = _flops(count(model, inputs=x, convention="fvcore").by_module(mode=mode))
    ref = {m: int(v) for m, v in fvcore(model, x, mode).by_module().items() if v}
    assert ours == ref


def test_shared_module_caller_view_by_hand():
    # inner Linear(10,10): 100 MACs per call, called by submod1 and by submod2;
    # multiname Linear(10,1): 10 per call, called twice under two names
    r = count(SharedModuleNet(), inputs=torch.randn(1, 10), convention="fvcore")
    caller = r.by_module(mode="caller").set_index("module")["flops"]
    assert caller["submod1"] == caller["submod2"] == 100
    assert caller["submod1.submod"] == 200 and caller["multiname1"] == 20 and caller[""] == 220
    owner = r.by_module().set_index("module")["flops"]
    assert owner["submod1"] == 200 and "submod2" not in owner.index


def test_cli_layers_shows_the_fvcore_blind_line(tmp_path, capsys):
    from inception_cost.cli import main
    f = tmp_path / "nets.py"
    f.write_text("import torch.nn as nn\n"
                 "def build():\n"
                 "    return nn.Sequential(nn.Conv2d(3, 4, 3, padding='same'), nn.Conv2d(4, 4, 1))\n")
    code = main(["layers", f"{f}:build", "--input", "3x8x8", "--convention", "fvcore", "--format", "md"])
    out, err = capsys.readouterr()
    assert code == 0, err
    # the 'same' conv is skipped by fvcore: 8*8*4*27 = 6,912 MACs; the 1x1 conv is counted
    assert "fvcore does not count: 6,912 MACs in 1 ops (_convolution_mode x1)" in out
