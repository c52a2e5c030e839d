"""``layers MODEL --tree``: the module tree, checked against hand arithmetic and
``sum(p.numel())`` on a two-conv net whose every number can be worked out on paper."""
from __future__ import annotations

import json

import pytest

from micro import run

NET = '''
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(4, 2, 1, bias=False)

    def forward(self, x):
        return self.head(self.stem(x))

def build():
    m = Net()
    m.default_input_size = (3, 8, 8)
    return m
'''

# by hand, input 1 x 3 x 8 x 8:
STEM_CONV_MACS = 8 * 8 * 4 * (3 * 3 * 3)   # output positions x channels x weights per output
HEAD_MACS = 8 * 8 * 2 * 4                  # a 1x1 conv: 4 inputs per output element
STEM_PARAMS = 4 * 3 * 3 * 3 + 4            # weights + bias
HEAD_PARAMS = 2 * 4


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("tree")
    (d / "nets.py").write_text(NET)
    return f"{d}/nets.py:build"


def tree_json(capsys, *args):
    code, out, err = run(["layers", *args, "--tree", "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_tree_numbers_by_hand_and_by_numel(net, capsys):
    obj = tree_json(capsys, net)
    rows = {r["module"]: r for r in obj["rows"]}
    assert list(rows) == ["", "stem", "stem.0", "stem.1", "head"]      # depth 2 by default
    assert [rows[m]["depth"] for m in rows] == [0, 1, 2, 2, 1]
    assert rows["stem.0"]["macs"] == rows["stem"]["macs"] == STEM_CONV_MACS == 6912
    assert rows["head"]["macs"] == HEAD_MACS == 512
    assert rows[""]["macs"] == STEM_CONV_MACS + HEAD_MACS
    # bias adds 1 FLOP per output element; ReLU 1 per element
    assert rows["stem.0"]["flops"] == 2 * STEM_CONV_MACS + 4 * 8 * 8
    assert rows["stem.1"]["flops"] == 4 * 8 * 8 and rows["stem.1"]["macs"] == 0
    assert (rows["stem"]["params"], rows["head"]["params"]) == (STEM_PARAMS, HEAD_PARAMS)
    assert rows[""]["params"] == STEM_PARAMS + HEAD_PARAMS == 120
    assert [rows[m]["out_shape"] for m in ("", "stem", "stem.0", "head")] == [
        [1, 2, 8, 8], [1, 4, 8, 8], [1, 4, 8, 8], [1, 2, 8, 8]]
    # the reference: every module's own parameter count
    import importlib.util
    spec = importlib.util.spec_from_file_location("nets", net.split(":")[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.build()
    for name, m in model.named_modules():
        assert rows[name]["params"] == sum(p.numel() for p in m.parameters()), name


def test_depth_limits_the_tree_and_batch_scales_it(net, capsys):
    obj = tree_json(capsys, net, "--depth", "1", "--batch", "3")
    rows = {r["module"]: r for r in obj["rows"]}
    assert list(rows) == ["", "stem", "head"]
    assert rows[""]["macs"] == 3 * (STEM_CONV_MACS + HEAD_MACS)
    assert rows["head"]["out_shape"] == [3, 2, 8, 8]
    assert obj["totals"]["params"] == STEM_PARAMS + HEAD_PARAMS


def test_modules_that_run_no_op_have_a_row(tmp_path, capsys):
    (tmp_path / "f.py").write_text(
        "import torch.nn as nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 5))\n")
    obj = tree_json(capsys, f"{tmp_path}/f.py:build", "--input", "1x6x6")
    rows = {r["module"]: r for r in obj["rows"]}
    assert rows["1"]["type"] == "Flatten" and rows["1"]["out_shape"] == [1, 32]
    assert rows["2"]["macs"] == 32 * 5 and rows["0"]["macs"] == 4 * 4 * 2 * 9


def test_terminal_tree_is_indented(net, capsys):
    code, out, err = run(["layers", net, "--tree"], capsys)
    assert code == 0, err
    cells = {ln.split("|")[1].rstrip(): ln for ln in out.splitlines() if ln.startswith("| ")}
    assert {" model", "   stem", "     stem.0", "     stem.1", "   head"} <= set(cells)
    assert "6,912" in cells["     stem.0"] and "1x4x8x8" in cells["     stem.0"]


def test_bad_depth_is_one_error_line(net, capsys):
    code, out, err = run(["layers", net, "--tree", "--depth", "-1"], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_a_module_called_twice_shows_its_first_output(tmp_path, capsys):
    (tmp_path / "g.py").write_text(
        "import torch.nn as nn\n"
        "class Twice(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(1, 2, 1, bias=False)\n"
        "        self.pool = nn.MaxPool2d(2)\n"
        "    def forward(self, x):\n"
        "        return self.pool(self.pool(self.conv(x)))\n"
        "def build():\n"
        "    return Twice()\n")
    obj = tree_json(capsys, f"{tmp_path}/g.py:build", "--input", "1x8x8")
    rows = {r["module"]: r for r in obj["rows"]}
    # first call: 8x8 -> 4x4; the second (4x4 -> 2x2) is the model's output
    assert rows["pool"]["out_shape"] == [1, 2, 4, 4] and rows[""]["out_shape"] == [1, 2, 2, 2]
    assert rows["conv"]["macs"] == 8 * 8 * 2 and rows["conv"]["params"] == 2
