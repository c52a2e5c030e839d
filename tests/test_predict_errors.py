"""``predict`` tells the model's refusal from its own defects, as ``layers`` and ``train``
do: a forward, loss or backward that fails on the input is one ``error:`` line, exit 2; an
error of the event recording itself is an internal error (exit 1), not the user's."""
import pytest

from micro import run

NETS = '''
import torch.nn as nn

def mlp():
    return nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
'''


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    path = tmp_path_factory.mktemp("nets") / "nets.py"
    path.write_text(NETS)
    return str(path)


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("INCEPTION_COST_DEBUG", raising=False)


@pytest.mark.parametrize("train", [[], ["--train"]])
def test_an_input_the_model_rejects_is_one_line_exit_2(f, capsys, train):
    # Linear(8, 4) given 5 features: the model's forward refuses the input
    code, out, err = run(["predict", f"{f}:mlp", "--input", "5", *train], capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: forward failed"), err
    assert "inputs: " in err and "Sequential.forward(input)" in err
    assert not out


def _fails(*args, **kwargs):
    raise RuntimeError("a defect of the recording")


@pytest.mark.parametrize("train, target", [
    ([], "inception_cost.timing_model.record.meta_inputs"),
    ([], "inception_cost.counting.capture.OpCapture.subscribe"),
    (["--train"], "inception_cost.counting.capture.OpCapture.watch_mixed_nodes"),
    (["--train"], "inception_cost.timing_model.record._param_owners"),
])
def test_a_defect_of_the_recording_is_not_a_usage_error(f, capsys, monkeypatch, train, target):
    # the same model and a valid input: it records cleanly without the injected fault
    assert run(["predict", f"{f}:mlp", "--input", "8", *train], capsys)[0] == 0
    monkeypatch.setattr(target, _fails)
    code, out, err = run(["predict", f"{f}:mlp", "--input", "8", *train], capsys)
    assert code == 1, err
    assert err.startswith("error: internal error RuntimeError: a defect of the recording"), err
    assert not out
