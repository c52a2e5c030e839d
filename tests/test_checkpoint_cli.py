"""``memory --train --budget --plan``, plan files and ``train --checkpoint``: bad input is
one ``error:`` line and exit 2 with no file written; a saved plan reproduces its peak."""
import json
import os

import pytest

from micro import run

NET = os.path.join(os.path.dirname(__file__), "checkpoint_nets.py") + ":TinyNet"
BASE = ["memory", NET, "--input", "3x32x32", "--batch", "8", "--train"]


def one_error(code, err, needle):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err


def _plan_file(tmp_path, modules):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"modules": modules}))
    return str(path)


@pytest.mark.parametrize("args, needle", [
    (["--budget", "1KiB", "--plan"], "parameters, gradients and optimizer state alone need"),
    (["--budget", "1.8MiB", "--plan"], "the lowest predicted peak reachable is"),
    (["--budget", "12XB", "--plan"], "--budget must be a size like 16GiB"),
    (["--plan"], "planning needs all of --train, --budget SIZE and --plan"),
])
def test_bad_budgets(capsys, tmp_path, args, needle):
    out = tmp_path / "plan.json"
    code, _out, err = run(BASE + args + ["--save-plan", str(out)], capsys)
    one_error(code, err, needle)
    assert not out.exists()


@pytest.mark.parametrize("content, needle", [
    ("{not json", "is not valid JSON"),
    ('{"modules": "block1"}', "must be a list of module names"),
    ('[1, 2]', 'must be a JSON object with a "modules" list'),
    ('{"modules": ["block9"]}', "does not have: 'block9'"),
    ('{"modules": ["block1", "block1.b2"]}', "nests 'block1.b2' inside 'block1'"),
])
def test_bad_plan_files(capsys, tmp_path, content, needle):
    path = tmp_path / "p.json"
    path.write_text(content)
    target = tmp_path / "out.txt"
    code, _out, err = run(BASE + ["--checkpoint", str(path), "-o", str(target)], capsys)
    one_error(code, err, needle)
    assert not target.exists()
    code, _out, err = run(["train", NET, "--input", "3x32x32", "--batch", "2",
                           "--checkpoint", str(path)], capsys)
    one_error(code, err, needle)


def test_saved_plan_reproduces_its_peak_and_recompute(capsys, tmp_path):
    plan = tmp_path / "plan.json"
    code, out, err = run(BASE + ["--budget", "15MiB", "--plan", "--save-plan", str(plan),
                                 "--format", "json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    saved = json.loads(plan.read_text())
    assert saved["modules"] == result["modules"] and saved["modules"]
    assert result["peak_bytes"] <= 15 * 2**20 < result["baseline_peak_bytes"]
    code, out, err = run(BASE + ["--checkpoint", str(plan), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["peak_bytes"] == saved["predicted_peak_bytes"]
    code, out, err = run(["train", NET, "--input", "3x32x32", "--batch", "8", "--optimizer",
                          "adam", "--checkpoint", str(plan), "--format", "csv"], capsys)
    assert code == 0, err
    rows = dict(line.split(",")[:2] for line in out.strip().splitlines()[1:])
    assert int(rows["recompute"]) == saved["recompute_macs"]


def test_a_model_with_no_candidate_module_gets_a_plan_not_a_crash(tmp_path, capsys):
    """Only layers below the top (Sequential(conv, relu, pool, flatten, linear)): no block
    to checkpoint. The plan says so (it used to fail drawing the empty candidate table)."""
    (tmp_path / "flat.py").write_text(
        "import torch.nn as nn\n"
        "def flat():\n"
        "    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),\n"
        "                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))\n"
        "    m.default_input_size = (3, 16, 16)\n"
        "    return m\n")
    code, out, err = run(["memory", f"{tmp_path}/flat.py:flat", "--train", "--plan", "--budget",
                          "1GiB"], capsys)
    assert code == 0, err
    text = " ".join(out.split())
    assert "of 0 candidates" in text and "no candidate module" in text
