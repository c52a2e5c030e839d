"""Baseline file names: every name gets its own file (Unicode kept, other characters
encoded reversibly), names that would share a file are refused, and an orphan
training baseline fails the gate and is removed by --update like a layers one."""
import json
import os
import shutil

import pandas as pd
import pytest

from inception_cost.report.baseline import name_of, safe_name
from micro import run

NETS = '''
import torch.nn as nn

def wide():
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 4))

def narrow():
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 2))

def tiny():
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 1))
'''
# parameters of each model: a Linear(8, k) has 8*k weights and k biases
PARAMS = {"wide": 8 * 4 + 4, "narrow": 8 * 2 + 2, "tiny": 8 * 1 + 1}


@pytest.fixture()
def setup(tmp_path):
    f = tmp_path / "nets.py"
    f.write_text(NETS)
    return str(f), tmp_path / "base"


def gate(f, base, factory, name, *extra):
    return ["check", "--model", f"{f}:{factory}", "--input", "2x2x2", "--name", name,
            "--baseline", str(base), *extra]


def baseline_params(path) -> int:
    return int(pd.read_csv(path, dtype=str)["params"].map(int).sum())


def test_two_unicode_names_keep_two_baselines(setup, capsys):
    f, base = setup
    assert run(gate(f, base, "wide", "模型一", "--update"), capsys)[0] == 0
    assert run(gate(f, base, "narrow", "模型二", "--update"), capsys)[0] == 0
    files = sorted(os.listdir(base / "layers"))
    assert files == ["模型一.csv", "模型二.csv"]            # the names, readable
    assert baseline_params(base / "layers" / "模型一.csv") == PARAMS["wide"]
    assert baseline_params(base / "layers" / "模型二.csv") == PARAMS["narrow"]
    # each model still passes against its own baseline: B did not overwrite A
    code, out, err = run(gate(f, base, "wide", "模型一"), capsys)
    assert code == 0 and "check passed" in out, err
    code, out, err = run(gate(f, base, "narrow", "模型二"), capsys)
    assert code == 0 and "check passed" in out, err


def test_names_that_used_to_share_a_file_get_one_each(setup, capsys):
    f, base = setup
    names = {"x:y": "wide", "x_y": "narrow", "x/y": "tiny"}   # all were layers/x_y.csv
    for name, factory in names.items():
        code, out, err = run(gate(f, base, factory, name, "--update"), capsys)
        assert code == 0 and "created" in out, err
    assert len(os.listdir(base / "layers")) == 3
    for name, factory in names.items():
        path = base / "layers" / f"{safe_name(name)}.csv"
        assert baseline_params(path) == PARAMS[factory]
        assert run(gate(f, base, factory, name), capsys)[0] == 0


@pytest.mark.parametrize("name", ["模型一", "x:y", "x_y", "x/y", "a b", "..", ".hidden", "%41",
                                  "%", "C:\\model", "e\u0301", "Ω≈ç√", "-x", "net.v2"])
def test_a_file_stem_is_one_safe_file_name_and_gives_the_name_back(name):
    stem = safe_name(name)
    assert name_of(stem) == name
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem and ":" not in stem
    assert not stem.startswith(".")


def test_names_differing_only_in_case_are_refused(setup, capsys):
    f, base = setup
    assert run(gate(f, base, "wide", "Net", "--update"), capsys)[0] == 0
    before = (base / "layers" / "Net.csv").read_bytes()
    # on macOS or Windows layers/net.csv IS layers/Net.csv: B would overwrite A
    for extra in (["--update"], []):
        code, out, err = run(gate(f, base, "narrow", "net", *extra), capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Net.csv" in lines[0] and "'net'" in lines[0]
    assert os.listdir(base / "layers") == ["Net.csv"]
    assert (base / "layers" / "Net.csv").read_bytes() == before


def test_a_baseline_under_its_older_file_name_is_pointed_at(setup, capsys):
    f, base = setup
    assert run(gate(f, base, "wide", "x_y", "--update"), capsys)[0] == 0
    code, out, err = run(gate(f, base, "wide", "x:y"), capsys)
    assert code == 2 and "x_y.csv" in err and "rename it to x%3Ay.csv" in err


@pytest.fixture()
def one_variant(monkeypatch):
    """`check` of every variant, where the zoo is one small variant."""
    import inception_cost.cli.check_cmd as check_cmd
    from inception_cost.models.registry import get_variant
    info = get_variant("inception_reduced")
    monkeypatch.setattr(check_cmd, "variants", lambda: [info])


def test_an_orphan_training_baseline_fails_the_gate_and_update_removes_it(one_variant, tmp_path,
                                                                          capsys):
    base = tmp_path / "b"
    code, out, err = run(["check", "--baseline", str(base), "--train", "--update"], capsys)
    assert code == 0, err
    orphan = base / "training" / "renamed.csv"
    shutil.copy(base / "training" / "inception_reduced.csv", orphan)
    code, out, err = run(["check", "--baseline", str(base)], capsys)   # gate on: training/ exists
    assert code == 1 and str(orphan) in out and "1 orphan baseline(s)" in err, (out, err)
    code, out, err = run(["check", "--baseline", str(base), "--format", "json"], capsys)
    payload = json.loads(out)
    assert code == 1 and payload["status"] == "changed"
    assert payload["orphan_baselines"] == [str(orphan)]
    code, out, err = run(["check", "--baseline", str(base), "--update"], capsys)
    assert code == 0 and not orphan.exists() and f"removed orphan baseline {orphan}" in out
    assert sorted(os.listdir(base / "training")) == ["inception_reduced.csv"]
    code, out, err = run(["check", "--baseline", str(base)], capsys)
    assert code == 0 and "check passed" in out, err


def test_without_name_the_file_is_named_after_the_model_not_its_path(setup, capsys):
    f, base = setup
    code, out, err = run(["check", "--model", f"{f}:wide", "--input", "2x2x2", "--baseline",
                          str(base), "--update"], capsys)
    assert code == 0, err
    # the model file's name and the factory, wherever the file lies: 'nets.py:wide' ->
    # 'nets.wide' (the same model given by another path finds its baseline)
    assert os.listdir(base / "layers") == ["nets.wide.csv"]
    assert baseline_params(base / "layers" / "nets.wide.csv") == PARAMS["wide"]


def test_training_summary_is_not_an_orphan_baseline(tmp_path):
    """`report` writes training/summary.csv beside the training baselines; the gate must
    not call it an orphan, while a renamed baseline beside it still is one."""
    from inception_cost.report.baseline import orphan_baselines
    (tmp_path / "training").mkdir()
    for stem in ("kept", "summary", "renamed"):
        (tmp_path / "training" / f"{stem}.csv").write_text("module\n", encoding="utf-8")
    assert orphan_baselines(str(tmp_path), ["kept"], "training") == [
        str(tmp_path / "training" / "renamed.csv")]
