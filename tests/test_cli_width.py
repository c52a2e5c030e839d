"""Every command's terminal view fits 80 and 100 columns without splitting a token.

A token is a run of non-space characters: a number, a module name, a header word.
Each command runs three times in-process: at COLUMNS=1000 (the reference, where
nothing needs to wrap) and at 80 and 100. A token of the narrow output that is not
a token of the reference but the start of one is a piece of a split token
('118,013,95' of '118,013,952', 'featur' of 'features.0.conv'); any such piece, or
any line longer than the width, fails.
"""
from __future__ import annotations

import re

import pytest

from micro import run

MODELS = '''
import torch.nn as nn

def tiny():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    m.default_input_size = (3, 16, 16)
    return m

def tiny_changed():
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
    m.default_input_size = (3, 16, 16)
    return m
'''

COMMANDS = {
    "layers": ["layers", "googlenet"],
    "layers-depth": ["layers", "inception_v3", "--depth", "2"],
    "layers-tree": ["layers", "googlenet", "--tree", "--depth", "3"],
    "train": ["train", "googlenet", "--batch", "1"],
    "table": ["table"],
    "table-train": ["table", "--train"],
    "table-v3": ["table", "inception_v3"],
    "table-bn": ["table", "bn_inception"],
    "factorize": ["factorize"],
    "cases": ["cases"],
    "module": ["module"],
    "module-5x5": ["module", "--example", "5x5"],
    "memory": ["memory", "googlenet", "--depth", "2"],
    "memory-train": ["memory", "googlenet", "--train"],
    "memory-fit": ["memory", "googlenet", "--fit", "1GiB"],
    "variants": ["variants"],
    "profile": ["profile", "{tiny}", "--device", "cpu", "--warmup", "0", "--iters", "2",
                "--threads", "1", "--per-layer"],
    "check": ["check", "--model", "{changed}", "--name", "tiny", "--baseline", "{base}"],
}
WIDTHS = (80, 100)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


# the footnote naming the columns left out at this width (its words are not cells)
_LEFT_OUT = re.compile(r"not shown at \d+ columns:.*?shows more\)")


# commands that time real runs: their numbers change from one run to the next, so only
# their words are compared across widths (the fitting helper that keeps numbers whole is
# the same one the deterministic commands above go through)
TIMED = {"profile"}
_NUMBER = re.compile(r"[-+]?[\d,]*\.?\d+%?")


# a table's rule ('+-----+---+'): its length follows the columns kept, it holds no cell
_RULE = re.compile(r"^[-+=:]+$")


def tokens(text: str) -> set[str]:
    flat = " ".join(_ANSI.sub("", text).replace("|", " ").split())
    return {t for t in _LEFT_OUT.sub(" ", flat).split() if not _RULE.match(t)}


def pieces(narrow: str, wide: str) -> list[str]:
    """Tokens of ``narrow`` that are only the beginning of a token of ``wide``
    (a narrow header may spell 'bwd_input_macs' as the words 'bwd input macs')."""
    ref = tokens(wide)
    ref |= {w for r in ref for w in r.split("_")}
    return sorted(t for t in tokens(narrow) - ref if any(r.startswith(t) for r in ref))


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    d = tmp_path_factory.mktemp("width")
    (d / "models.py").write_text(MODELS)
    base = d / "baseline"
    from inception_cost.cli import main
    assert main(["check", "--model", f"{d}/models.py:tiny", "--name", "tiny", "--update",
                 "--baseline", str(base)]) == 0
    return {"tiny": f"{d}/models.py:tiny", "changed": f"{d}/models.py:tiny_changed",
            "base": str(base)}


def render_at(args, width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = run(args, capsys)
    assert code in (0, 1), err
    return out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_terminal_view_fits_without_split_tokens(name, specs, capsys, monkeypatch):
    args = [a.format(**specs) for a in COMMANDS[name]]
    wide = render_at(args, 1000, capsys, monkeypatch)
    assert wide.strip()
    for width in WIDTHS:
        text = render_at(args, width, capsys, monkeypatch)
        long = [ln for ln in _ANSI.sub("", text).splitlines() if len(ln) > width]
        assert not long, f"{name} at {width} columns: {len(long)} lines too long: {long[0]!r}"
        split = pieces(text, wide)
        if name in TIMED:   # each run measures anew: its numbers differ between the runs
            split = [t for t in split if not _NUMBER.fullmatch(t)]
        assert not split, f"{name} at {width} columns splits tokens: {split[:8]}"


def test_pieces_finds_a_split_number_and_name():
    wide = "| conv1.conv | 118,013,952 |"
    assert pieces("| conv1.co | 118,013,95 |\n| nv        |          2 |", wide) == [
        "118,013,95", "conv1.co"]
    assert pieces("| conv1.conv | 118,013,952 |", wide) == []
