"""Engine behaviour: devices, params attribution, hierarchy, fvcore parity, errors."""
import pytest
import torch
import torch.nn as nn
import torchvision

from inception_cost import count
from inception_cost.counting import ForwardError
from inception_cost.errors import InputTooSmallError, UsageError

# tiny CPU forwards: one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def tv(name, **kw):
    kw.setdefault("weights", None)
    if name in ("googlenet", "inception_v3"):
        kw.update(aux_logits=False, init_weights=False)
    return torchvision.models.get_model(name, **kw).eval()


def test_meta_equals_cpu_on_googlenet():
    m = tv("googlenet")
    meta = count(m, (2, 3, 224, 224))
    cpu = count(m, (2, 3, 224, 224), device="cpu")
    t_meta, t_cpu = meta.totals(), cpu.totals()
    # bytes follow each device's kernels: in eval, the meta kernel of native_batch_norm also
    # returns the saved mean and inverse std (C float32 each), which the CPU kernel leaves
    # empty -- 2 x 4 bytes per channel of every BatchNorm2d
    channels = sum(b.num_features for b in m.modules() if isinstance(b, nn.BatchNorm2d))
    assert t_meta.pop("bytes") - t_cpu.pop("bytes") == 2 * 4 * channels
    assert t_meta == t_cpu
    assert meta.layers[["module", "op", "macs", "flops"]].equals(cpu.layers[["module", "op", "macs", "flops"]])
    # torchvision publishes googlenet at 1.50 "GFLOPS", which are MACs
    assert round(meta.total_macs / 2 / 1e9, 2) == 1.50


def test_batch_scales_linearly_on_meta():
    m = tv("googlenet")
    one = count(m, (1, 3, 224, 224))
    big = count(m, (4096, 3, 299, 299))   # free on meta
    base299 = count(m, (1, 3, 299, 299))
    assert big.total_macs == 4096 * base299.total_macs
    assert one.total_params == big.total_params == sum(p.numel() for p in m.parameters())


def test_params_counted_once_shared_and_unused():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Conv2d(4, 4, 3, padding=1)
            self.unused = nn.Linear(10, 10)            # never runs

        def forward(self, x):
            return self.block(self.block(x))          # same module twice

    m = Shared()
    r = count(m, (1, 4, 8, 8))
    assert r.total_params == 4 * 4 * 9 + 4 + 10 * 10 + 10 == sum(p.numel() for p in m.parameters())
    assert r.total_macs == 2 * 8 * 8 * 4 * 4 * 9
    assert "params" in set(r.layers["op"])            # the unused Linear's own row


def test_by_module_hierarchy_never_double_counts():
    r = count(tv("resnet50"), (1, 3, 224, 224))
    top = r.by_module(depth=1)
    assert top["macs"].sum() == r.total_macs
    allm = r.by_module().set_index("module")
    assert allm.loc["", "macs"] == r.total_macs
    l1 = allm.loc["layer1", "macs"]
    assert l1 == sum(allm.loc[f"layer1.{i}", "macs"] for i in range(3))
    # the residual add inside a block is attributed to that block itself
    rows = r.layers[(r.layers["module"] == "layer1.0") & (r.layers["op"] == "add_")]
    assert len(rows) == 1 and rows.iloc[0]["flops"] == 256 * 56 * 56


@pytest.mark.parametrize("name,size", [("googlenet", 224), ("inception_v3", 299), ("resnet50", 224),
                                       ("mobilenet_v2", 224), ("densenet121", 224)])
def test_fvcore_convention_equals_fvcore(name, size):
    from fvcore.nn import FlopCountAnalysis
    m = tv(name)
    x = torch.randn(1, 3, size, size)
    ours = count(m, (1, 3, size, size), convention="fvcore")
    fca = FlopCountAnalysis(m, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert ours.total_flops == fca.total()
    theirs = fca.by_module()
    mine = ours.module_totals()
    for mod, v in theirs.items():
        assert mine.get(mod, 0) == v, mod
    # and the engine="fvcore" wrapper reports the same table
    wrapped = count(m, (1, 3, size, size), engine="fvcore")
    assert wrapped.total_flops == fca.total()
    assert wrapped.module_totals() == {k: v for k, v in mine.items() if k in wrapped.module_totals()}


def test_fvcore_counts_conv_as_macs():
    r = count(nn.Conv2d(3, 8, 3, padding=1), (1, 3, 10, 10), convention="fvcore")
    assert r.total_flops == 10 * 10 * 8 * 27 == r.total_macs


def test_input_too_small_names_layer_and_smallest_input():
    m = tv("alexnet")
    with pytest.raises(InputTooSmallError) as e:
        count(m, (1, 3, 30, 30))
    msg = str(e.value)
    assert "features." in msg and "3x63x63" in msg
    # and the suggestion is right: 63 passes, 62 does not
    count(m, (1, 3, 63, 63))
    with pytest.raises(InputTooSmallError):
        count(m, (1, 3, 62, 62))


def test_forward_error_names_module():
    m = tv("resnet50")
    with pytest.raises(ForwardError) as e:
        count(m, (1, 4, 224, 224))
    assert e.value.module == "conv1"


def test_bad_arguments():
    with pytest.raises(UsageError):
        count(nn.Identity(), (0, 3, 8, 8))
    with pytest.raises(UsageError):
        count(nn.Identity(), (1, 3, 8, 8), convention="thop")
    with pytest.raises(UsageError):
        count(nn.Identity())


@pytest.mark.parametrize("name,layers", [("googlenet", 22), ("vgg16", 16), ("resnet50", 50), ("alexnet", 8)])
def test_depth_is_longest_weight_layer_path(name, layers):
    # the names say it: VGG-16, ResNet-50, AlexNet's 5 conv + 3 FC, GoogLeNet "22 layers deep"
    assert count(tv(name), (1, 3, 224, 224)).depth == layers


@pytest.mark.parametrize("name", ["googlenet", "resnet50"])
def test_pytorch_flop_counter_is_two_per_mac(name):
    # PyTorch's own FlopCounterMode counts only conv/matmul, 2 FLOPs per MAC, no bias
    from torch.utils.flop_counter import FlopCounterMode
    m = tv(name)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        m(torch.randn(1, 3, 224, 224))
    assert fc.get_total_flops() == 2 * count(m, (1, 3, 224, 224)).total_macs


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_meta_equals_cuda():
    m = tv("googlenet").cuda()
    assert count(m, (2, 3, 224, 224), device="cuda").totals() == count(m, (2, 3, 224, 224)).totals()


def test_fvcore_convention_matmul_matches_fvcore_on_broadcast():
    from fvcore.nn import FlopCountAnalysis

    class MM(nn.Module):
        def forward(self, a, b):
            return torch.matmul(a, b)

    a, b = torch.randn(5, 7), torch.randn(3, 7, 4)
    fca = FlopCountAnalysis(MM(), (a, b)).unsupported_ops_warnings(False)
    ours = count(MM(), inputs=(a, b), convention="fvcore")
    assert ours.total_flops == fca.total() == 5 * 7 * 4          # fvcore ignores b's batch of 3
    assert count(MM(), inputs=(a, b)).total_macs == 3 * 5 * 7 * 4  # the real multiply-accumulates
