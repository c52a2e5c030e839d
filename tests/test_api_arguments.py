"""The Python API rejects wrong argument types and values with the project's UsageError
(exit code 2 semantics, one line), the same line the CLI prints for the same mistake."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from inception_cost import count
from inception_cost.counting.training import count_training
from inception_cost.errors import UsageError

from micro import run


@pytest.fixture(scope="module")
def net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())


SHAPE = (1, 3, 8, 8)


@pytest.mark.parametrize("kwargs, message", [
    (dict(freeze=5), "freeze must be module/parameter patterns: a comma-separated string such as "
                     "'conv1,conv2*' or a list of strings, got int 5"),
    (dict(freeze=["0", 7]), "got int 7"),
    (dict(freeze=b"0"), "got bytes b'0'"),
    (dict(device="bogus"), "unknown device 'bogus' (choose meta, cpu or cuda)"),
    (dict(device=5), "device must be a string such as 'meta', 'cpu' or 'cuda', got int"),
    (dict(loss=5), "loss must be a function loss(output) -> scalar tensor, got int"),
    (dict(aux_weight="x"), "aux_weight must be a finite number"),
    (dict(aux_weight=float("nan")), "aux_weight must be a finite number"),
    (dict(name=5), "name must be a string, got int"),
])
def test_count_training_wrong_arguments(net, kwargs, message):
    with pytest.raises(UsageError) as e:
        count_training(net, SHAPE, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(device="bogus"), "unknown device 'bogus' (choose meta, cpu or cuda)"),
    (dict(device=3), "device must be a string"),
    (dict(strict="yes"), "strict must be True or False, got 'yes'"),
    (dict(name=5), "name must be a string, got int"),
    (dict(formulas=5), "formulas must be a dict"),
])
def test_count_wrong_arguments(net, kwargs, message):
    with pytest.raises(UsageError) as e:
        count(net, SHAPE, **kwargs)
    assert message in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_is_a_usage_error(net):
    with pytest.raises(UsageError, match="CUDA is not available on this machine"):
        count(net, SHAPE, device="cuda:0")
    with pytest.raises(UsageError, match="CUDA is not available on this machine"):
        count_training(net, SHAPE, device="cuda")


def test_device_objects_still_work(net):
    assert count(net, SHAPE, device=torch.device("meta")).total_macs == 4 * 6 * 6 * 3 * 9


@pytest.mark.parametrize("cli, api", [
    (["--freeze", "nosuch"], dict(freeze="nosuch")),
    (["--optimizer", "bogus"], dict(optimizer="bogus")),
])
def test_api_message_is_the_cli_line(tmp_path, capsys, cli, api):
    (tmp_path / "m.py").write_text("import torch.nn as nn\n\ndef build():\n"
                                   "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())\n")
    code, _, err = run(["train", f"{tmp_path}/m.py:build", "--input", "3x8x8", "--batch", "1", *cli],
                       capsys)
    assert code == 2
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    with pytest.raises(UsageError) as e:
        count_training(model, SHAPE, **api)
    assert err == f"error: {e.value}\n"


@pytest.mark.parametrize("shape", [(10**17, 3, 8, 8), (10**20, 3, 8, 8), (10**40, 3, 8, 8)])
def test_inputs_no_tensor_can_hold_are_a_usage_error(net, shape):
    """10^17 x 3 x 8 x 8 fp32 = 7.68e19 bytes > 2^63 - 1 = 9.22e18: no tensor can hold it
    (torch would raise a TypeError or RuntimeError from deep inside)."""
    assert shape[0] * 3 * 8 * 8 * 4 > 2**63 - 1
    for fn in (count, count_training):
        with pytest.raises(UsageError, match=r"more elements than one fp32 tensor can hold "
                                             r"\(2\^63 - 1 bytes\)"):
            fn(net, shape)


def test_largest_input_that_fits_is_counted(net):
    """10^16 x 3 x 8 x 8 fp32 = 7.68e18 bytes fits, and so does the conv output
    10^16 x 4 x 6 x 6 (5.76e18 bytes): forward MACs = N x 4 x 6 x 6 x 3 x 3 x 3 = N x 3,888."""
    n = 10**16
    assert n * 3 * 8 * 8 * 4 <= 2**63 - 1
    assert count(net, (n, 3, 8, 8)).total_macs == n * 3888
