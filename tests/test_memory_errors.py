"""`memory` on bad arguments and on models that fail: one `error:` line and exit 2 from the
CLI, the project's UsageError (same message) from the Python API; a step PyTorch refuses is
refused with PyTorch's own reason."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from inception_cost import count
from inception_cost.cli import main
from inception_cost.errors import UsageError
from inception_cost.memory_analysis import fit_batch, memory

MODELS = '''
import torch
import torch.nn as nn


class Base(nn.Module):
    def __init__(self, out=2):
        super().__init__()
        self.fc = nn.Linear(48, out)


class Raises(Base):
    def forward(self, x):
        raise ValueError("boom in forward")


class Recurses(Base):
    def forward(self, x):
        return self.forward(x)


class Item(Base):
    def forward(self, x):
        if x.sum().item() > 0:
            x = x * 2
        return self.fc(x.flatten(1))


class Scalar(Base):
    def forward(self, x):
        return self.fc(x.flatten(1)).sum()


class IntOut(Base):
    def forward(self, x):
        return self.fc(x.flatten(1)).argmax(1)


class NoParams(nn.Module):
    def forward(self, x):
        return x.flatten(1) * 2


class SavedThenModified(Base):
    """sigmoid saves its output for backward; add_ then modifies it in place."""
    def __init__(self):
        super().__init__(out=8)

    def forward(self, x):
        y = torch.sigmoid(self.fc(x.flatten(1)))
        y.add_(1)
        return y


class ModifiedNotSaved(Base):
    """relu_ on the Linear's output, which addmm does not save: PyTorch allows it."""
    def __init__(self):
        super().__init__(out=8)

    def forward(self, x):
        return self.fc(x.flatten(1)).relu_()


def _make(cls):
    def factory():
        m = cls()
        m.default_input_size = (3, 4, 4)
        return m
    return factory


raises, recurses, item, scalar = _make(Raises), _make(Recurses), _make(Item), _make(Scalar)
intout, noparams = _make(IntOut), _make(NoParams)
saved_then_modified, modified_not_saved = _make(SavedThenModified), _make(ModifiedNotSaved)
'''

MODES = {"inference": [], "train": ["--train"], "fit": ["--fit", "1GiB"]}


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "failing_models.py"
    path.write_text(MODELS)
    return str(path)


def run(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error(rc, out, err, needle: str) -> str:
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


# --- models that fail ---------------------------------------------------------------

@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("factory, needle", [
    ("raises", "forward failed in module '(model)': ValueError: boom in forward"),
    ("recurses", "RecursionError: maximum recursion depth exceeded"),
    ("item", "the meta device (where memory is tracked) does not have"),
])
def test_failing_forward_is_one_error_line(capsys, nets, mode, factory, needle):
    one_error(*run(capsys, "memory", f"{nets}:{factory}", *MODES[mode]), needle)


@pytest.mark.parametrize("mode", ["train", "fit"])
@pytest.mark.parametrize("factory, needle", [
    ("scalar", "model returned a 0-d tensor of shape ()"),
    ("intout", "model returned a tensor of dtype int64"),
    ("noparams", "the model has no parameters that require gradients"),
])
def test_untrainable_outputs_are_one_error_line(capsys, nets, mode, factory, needle):
    one_error(*run(capsys, "memory", f"{nets}:{factory}", *MODES[mode]), needle)


@pytest.mark.parametrize("factory", ["scalar", "intout", "noparams"])
def test_inference_of_those_models_is_exact(capsys, nets, factory):
    rc, out, err = run(capsys, "memory", f"{nets}:{factory}", "--batch", 3, "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    params = 0 if factory == "noparams" else 4 * (48 * 2 + 2)
    # input 3 x 48 fp32 held by the caller + each op's output while it is alive
    outputs = {"scalar": 3 * 2 + 1,       # the Linear's 3 x 2 output, then its sum
               "intout": 3 * 2 + 2 * 3,   # 3 x 2 output, then argmax: 3 int64 (8 B each)
               "noparams": 3 * 48}         # x.flatten(1) * 2
    assert data["peak_bytes"] == params + 4 * 3 * 48 + 4 * outputs[factory]


def _pytorch_reason(model: nn.Module, batch: int) -> str:
    """PyTorch's own refusal, from a real CPU forward and backward."""
    x = torch.randn(batch, 3, 4, 4)
    try:
        model(x).sum().backward()
    except RuntimeError as e:
        return str(e).split(" Hint:")[0].rstrip(".")
    return ""


def _load(nets, name):
    import importlib.util
    spec = importlib.util.spec_from_file_location("failing_models_ref", nets)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)()


@pytest.mark.parametrize("mode", ["train", "fit"])
def test_a_step_pytorch_refuses_is_refused_with_its_reason(capsys, nets, mode):
    # --train analyses the default training batch (32); --fit probes batch 1 first
    reason = _pytorch_reason(_load(nets, "saved_then_modified"),
                             batch=32 if mode == "train" else 1)
    assert "modified by an inplace operation" in reason and "expected version 0" in reason
    line = one_error(*run(capsys, "memory", f"{nets}:saved_then_modified", *MODES[mode]),
                     "PyTorch refuses this training step")
    assert reason in line, (reason, line)


def test_a_step_pytorch_allows_is_analysed(capsys, nets):
    assert _pytorch_reason(_load(nets, "modified_not_saved"), batch=2) == ""
    rc, out, err = run(capsys, "memory", f"{nets}:modified_not_saved", "--train",
                       "--optimizer", "sgd", "--batch", 2, "--format", "json")
    assert rc == 0, err


# --- option combinations ---------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["--fit", "1GiB", "--batch", "4"], "--batch does not apply to it"),
    (["--fit", "1GiB", "--timeline", "--format", "csv"], "--timeline does not apply to it"),
    (["--fit", "1GiB", "--plots", "PLOTS"], "--plots does not apply to it"),
    (["--timeline"], "--timeline is one row per op, written as --format csv or json"),
    (["--timeline", "--format", "md"], "(got --format md)"),
])
def test_options_that_do_not_combine_are_refused(capsys, tmp_path, nets, args, needle):
    args = [str(tmp_path / "plots") if a == "PLOTS" else a for a in args]
    one_error(*run(capsys, "memory", f"{nets}:scalar", *args), needle)
    assert not (tmp_path / "plots").exists()


def test_fit_with_train_shows_the_training_row_only(capsys, nets):
    rc, out, err = run(capsys, "memory", f"{nets}:modified_not_saved", "--fit", "1MiB",
                       "--train", "--optimizer", "sgd", "--format", "csv")
    assert rc == 0, err
    rows = out.strip().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["training"]


# --- the Python API: wrong types are the project's UsageError ------------------------------

@pytest.fixture(scope="module")
def conv():
    with torch.device("meta"):
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())


@pytest.mark.parametrize("size", [(1.5, 3, 8, 8), "abc", (3, 8.0, 8), (0, 3, 8, 8),
                                  (True, 3, 8, 8), 5])
def test_input_size_errors_match_count(conv, size):
    with pytest.raises(UsageError) as ours:
        memory(conv, size)
    with pytest.raises(UsageError) as counts:
        count(conv, size)
    assert str(ours.value) == str(counts.value)


@pytest.mark.parametrize("kwargs, needle", [
    ({"batch": 2.5}, "batch must be a positive integer, got 2.5"),
    ({"batch": 0}, "input size must be positive"),
    ({"optimizer": torch.optim.SGD, "training": True}, "optimizer must be one of the names"),
    ({"dtype": torch.float16}, "dtype must be one of the names"),
    ({"step": None}, "step must be one of the names"),
    ({"training": "yes"}, "training must be True or False"),
    ({"optimizer": "lion", "training": True}, "unknown optimizer 'lion'"),
    ({"batch": 10**30}, "one fp32 tensor can hold (2^63 - 1 bytes)"),
])
def test_memory_argument_errors(conv, kwargs, needle):
    with pytest.raises(UsageError) as e:
        memory(conv, (3, 8, 8), **kwargs)
    assert needle in str(e.value)


@pytest.mark.parametrize("budget, cli", [
    (float("nan"), "nan"), (float("inf"), "inf"), (-5, None), ("abc", "abc"), (0.5, "0.5"),
    (True, "True"),
])
def test_fit_batch_budget_errors_match_the_cli(capsys, conv, nets, budget, cli):
    with pytest.raises(UsageError) as e:
        fit_batch(conv, budget, (3, 8, 8))
    assert str(e.value).startswith("--fit must be a")
    if cli is not None:
        rc, out, err = run(capsys, "memory", f"{nets}:scalar", "--fit", cli)
        assert one_error(rc, out, err, "--fit") == f"error: {e.value}"


def test_unknown_optimizer_message_is_the_clis(capsys, conv, nets):
    with pytest.raises(UsageError) as e:
        memory(conv, (3, 8, 8), training=True, optimizer="lion")
    rc, out, err = run(capsys, "memory", f"{nets}:scalar", "--train", "--optimizer", "lion")
    assert one_error(rc, out, err, "lion") == f"error: {e.value}"


def test_float_budget_is_exact_bytes(conv):
    # Conv2d(3, 4, 3) on 3 x 8 x 8: params (4*27 + 4) x 4 = 448 B; per image the input
    # 3*64*4 = 768 B and the output 4*36*4 = 576 B (Flatten is a view): 1344 B.
    assert fit_batch(conv, 448.0 + 1344 * 10, (3, 8, 8), reserve=0).batch == 10
    assert fit_batch(conv, "13888", (3, 8, 8), reserve=0).batch == 10
