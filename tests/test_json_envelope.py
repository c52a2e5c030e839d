"""Every command's ``--format json`` is one object with the same envelope: model, input
({name, shape, dtype} per forward argument), convention where counts follow one, totals
(exact integers) and rows. ``train``'s totals are the sums of its rows, checked by hand on
a Linear(4, 3) at batch 2."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from micro import run

NETS = """import torch.nn as nn

def lin():
    return nn.Linear(4, 3)
"""

COUNTS = ["params", "trainable", "fwd_macs", "fwd_flops", "bwd_input_macs", "bwd_input_flops",
          "bwd_weight_macs", "bwd_weight_flops", "bwd_macs", "bwd_flops", "opt_flops",
          "step_macs", "step_flops", "fwd_bytes", "bwd_input_bytes", "bwd_weight_bytes",
          "bwd_bytes", "opt_bytes", "step_bytes"]


@pytest.fixture(scope="module")
def lin(tmp_path_factory):
    d = tmp_path_factory.mktemp("envelope")
    (d / "nets.py").write_text(NETS)
    return f"{d}/nets.py:lin"


def as_json(args, capsys) -> dict:
    code, out, err = run([*args, "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert isinstance(obj, dict), type(obj)
    return obj


def check_envelope(obj: dict, convention: bool) -> None:
    for key in ("model", "input", "totals", "rows"):
        assert key in obj, (key, list(obj))
    assert ("convention" in obj) == convention, list(obj)
    if obj["input"] is not None:
        for entry in obj["input"]:
            assert set(entry) == {"name", "shape", "dtype"}
            assert all(type(v) is int for v in entry["shape"]), entry
    if obj["totals"] is not None and not isinstance(obj["totals"], list):  # predict: per device
        assert obj["totals"] and all(type(v) is int for v in obj["totals"].values()), obj["totals"]
    if obj["rows"] is not None:
        assert isinstance(obj["rows"], list) and all(isinstance(r, dict) for r in obj["rows"])


def test_train_totals_are_the_rows_sums_and_match_hand_arithmetic(lin, capsys):
    obj = as_json(["train", lin, "--input", "4", "--batch", "2", "--optimizer", "sgd"], capsys)
    check_envelope(obj, convention=True)
    assert obj["model"] == lin and obj["convention"] == "native"
    assert obj["input"] == [{"name": None, "shape": [2, 4], "dtype": "float32"}]
    assert (obj["batch"], obj["optimizer"], obj["dtype"], obj["freeze"]) == (2, "sgd", "float32",
                                                                              None)
    rows, totals = obj["rows"], obj["totals"]
    assert set(totals) == set(COUNTS)
    for c in COUNTS:
        assert totals[c] == sum(r[c] for r in rows), c
    fc = next(r for r in rows if r["module_type"] == "Linear")
    # Linear(4, 3), batch 2: 4 x 3 weights + 3 biases; y = x W^T: 2 x 4 x 3 MACs
    assert fc["params"] == totals["params"] == 4 * 3 + 3
    assert fc["fwd_macs"] == totals["fwd_macs"] == 2 * 4 * 3
    assert fc["fwd_flops"] == 2 * (2 * 4 * 3) + 2 * 3            # + one add per bias output
    # backward: dW = dy^T x (3 x 2 x 4 MACs); the input needs no gradient, so no dX
    assert fc["bwd_weight_macs"] == totals["bwd_weight_macs"] == 3 * 2 * 4
    assert fc["bwd_input_macs"] == totals["bwd_input_macs"] == 0
    assert fc["bwd_weight_flops"] == 2 * (3 * 2 * 4) + 2 * 3     # + db: dy summed over batch
    # plain SGD: p -= lr * g, 2 FLOPs per parameter element
    assert fc["opt_flops"] == totals["opt_flops"] == 2 * 15
    assert totals["step_macs"] == 24 + 24


def test_train_totals_are_the_rows_sums_at_a_depth(lin, capsys):
    obj = as_json(["train", lin, "--input", "4", "--batch", "2", "--depth", "0"], capsys)
    assert obj["depth"] == 0
    for c in COUNTS:
        assert obj["totals"][c] == sum(r[c] for r in obj["rows"]), c


def test_layers_and_tree_totals_are_exact_and_match_by_hand(lin, capsys):
    obj = as_json(["layers", lin, "--input", "1x4"], capsys)
    check_envelope(obj, convention=True)
    assert obj["input"] == [{"name": None, "shape": [1, 4], "dtype": "float32"}]
    assert obj["totals"]["macs"] == sum(r["macs"] for r in obj["rows"]) == 4 * 3
    tree = as_json(["layers", lin, "--input", "1x4", "--tree"], capsys)
    check_envelope(tree, convention=True)
    assert tree["totals"]["params"] == 15 and tree["input"] == obj["input"]


def test_memory_envelope(lin, capsys):
    obj = as_json(["memory", lin, "--input", "4"], capsys)
    check_envelope(obj, convention=False)
    assert obj["input"] == [{"name": None, "shape": [1, 4], "dtype": "float32"}]
    # weights (15 fp32) and input (4) alive while the output (3) is written
    assert obj["totals"]["peak_bytes"] == obj["peak_bytes"] == 4 * (15 + 4 + 3)
    assert obj["rows"] == obj["modules"]
    fit = as_json(["memory", lin, "--input", "4", "--fit", "1MiB"], capsys)
    check_envelope(fit, convention=False)
    assert fit["input"] == [{"name": None, "shape": [4], "dtype": "float32"}]   # per sample
    assert fit["totals"] == {f"largest_batch_{r['mode']}": r["largest_batch"] for r in fit["rows"]}


@pytest.mark.parametrize("args, convention", [
    (["predict", "{lin}", "--input", "4", "--on", "H100"], True),
    (["check", "--model", "{lin}", "--input", "4", "--baseline", "{tmp}", "--no-train"], True),
    (["profile", "{lin}", "--input", "4", "--device", "cpu", "--warmup", "0", "--iters", "2",
      "--threads", "1"], True),
    (["module"], True),
    (["factorize", "--channels", "4", "--grid", "5"], True),
    (["cases"], True),
    (["variants"], False),
    (["devices", "H100"], False),
])
def test_every_command_writes_the_envelope(lin, tmp_path, capsys, args, convention):
    args = [a.format(lin=lin, tmp=tmp_path) for a in args]
    if args[0] == "check":
        code, _out, err = run([*args, "--update"], capsys)
        assert code == 0, err
    obj = as_json(args, capsys)
    check_envelope(obj, convention)
    if args[0] in ("predict", "check", "profile"):
        shape = [4] if args[0] in ("predict", "profile") else [1, 4]   # sweeps: per sample
        assert obj["input"] == [{"name": None, "shape": shape, "dtype": "float32"}]
    if args[0] == "check":
        assert obj["model"] == ["nets.lin"] and obj["status"] == "identical"
        assert obj["totals"]["checked"] == obj["totals"]["identical"] == 1 and obj["rows"] == []


def test_table_envelope(capsys):
    obj = as_json(["table", "inception_v3"], capsys)
    check_envelope(obj, convention=True)
    assert obj["model"] == "inception_v3"
    assert obj["input"] == [{"name": None, "shape": [1, 3, 299, 299], "dtype": "float32"}]


def test_calibrate_envelope(capsys, monkeypatch):
    import inception_cost.cli.calibrate_cmd as cmd
    fake = SimpleNamespace(name="cpu (measured)", source="test")
    ms = [SimpleNamespace(name="gemm fp32 8x8x8", value=1.0, unit="TFLOP/s", median_s=1e-3)]
    monkeypatch.setattr(cmd, "calibrate", lambda device, quick, progress: (fake, ms))
    monkeypatch.setattr(cmd, "steps", lambda device, quick: 1)
    obj = as_json(["calibrate", "--quick"], capsys)
    check_envelope(obj, convention=False)
    assert obj["totals"] == {"measurements": 1} and obj["rows"][0]["unit"] == "TFLOP/s"
