"""Every command's terminal view fits 80 and 100 columns without splitting a token.

A token is a run of non-space characters: a number, a module name, a header word.
Each command runs three times in-process: at COLUMNS=1000 (the reference, where
nothing needs to wrap) and at 80 and 100 (where a command's costly step does not depend
on the width, the later runs render the first run's result: see REPLAYED). A token of the narrow output that is not
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

def blocks():
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.ReLU())
    m = nn.Sequential(block(3, 8), block(8, 8), block(8, 8), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(8, 4))
    m.default_input_size = (3, 32, 32)
    return m

def tiny_changed():
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
    m.default_input_size = (3, 16, 16)
    return m

class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(10, 4)

    def forward(self, x, y):
        return self.conv(x).mean((2, 3)) + self.fc(y)

def two():
    return Two()
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
    "predict": ["predict", "googlenet", "--on", "H100", "--on", "a100-80gb", "--on", "v100",
                "--on", "l4", "--batch", "1,64,256"],
    "predict-depth": ["predict", "{blocks}", "--on", "H100", "--on", "t4", "--depth", "1",
                      "--train"],
    "devices": ["devices", "--sources"],
    "calibrate": ["calibrate"],        # its measurements replaced (see _fixed_calibration)
    "memory-plan": ["memory", "{blocks}", "--train", "--plan", "--budget", "1GiB"],
    "memory-checkpoint": ["memory", "{blocks}", "--train", "--checkpoint", "{plan}"],
    "memory-fit-auto": ["memory", "{blocks}", "--fit", "64MiB", "--checkpoint", "auto"],
    "layers-inputs": ["layers", "{two}", "--input", "3x16x16", "--input", "10"],
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
    plan = d / "plan.json"
    assert main(["memory", f"{d}/models.py:blocks", "--train", "--plan", "--budget", "1GiB",
                 "--save-plan", str(plan), "-o", str(d / "plan.txt")]) == 0
    return {"tiny": f"{d}/models.py:tiny", "changed": f"{d}/models.py:tiny_changed",
            "base": str(base), "blocks": f"{d}/models.py:blocks", "plan": str(plan),
            "two": f"{d}/models.py:two"}


def _fixed_calibration(monkeypatch):
    """`calibrate` measures this machine anew on every run; its table is rendered here
    from fixed measurements (long names, a rate far below 1, a long source line)."""
    from inception_cost.cli import calibrate_cmd
    from inception_cost.timing_model.calibrate import Measurement
    from inception_cost.timing_model.devices import Device
    ms = [Measurement("gemm fp32 1024x1024x1024", 0.123456, "TFLOP/s", 0.0174, 5),
          Measurement("conv 3x3 depthwise, batch 2 at 392 output pixels", 0.00042, "TFLOP/s",
                      0.001773, 5),
          Measurement("convolution_kxk_native overhead (tiny call)", 24.507, "us", 2.45e-05, 5),
          Measurement("stream add 4194304 fp32", 6.256, "GB/s", 0.0080458, 5)]
    dev = Device(name="Intel(R) Xeon(R) Processor @ 2.80GHz (measured)", kind="cpu",
                 peaks_tflops={"fp32": 0.123456}, bandwidth_gbs=6.256,
                 source="inception-cost calibrate, 2026-12-07 23:29 UTC, torch 2.14.1+cu130, "
                        "1 threads, median of 3", measured=True)
    monkeypatch.setattr(calibrate_cmd, "calibrate", lambda *a, **k: (dev, ms))


# The costly, width-independent step of some commands (the paper reports a `table` builds,
# the batch search of `memory --fit`): computed by the first run only; the runs at 80 and
# 100 columns render a deep copy of the first run's result (so nothing one render does to
# it reaches the next).  Widths are read only when rendering (report/fit.py's
# terminal_width, called by the renderers), so every run renders the same data it would
# have computed again.
REPLAYED = {"table-v3": [("inception_cost.cli.table_cmd", "rethinking_report")],
            "table-bn": [("inception_cost.cli.table_cmd", "bn_inception_report")],
            "table": [("inception_cost.cli.table_cmd", "table1_report")],
            "table-train": [("inception_cost.cli.table_cmd", "table1_report"),
                            ("inception_cost.papers.table1_training", "with_training_column")],
            "memory-fit": [("inception_cost.cli.memory_cmd", "fit_batch")]}


def replay(name, monkeypatch):
    """Wrap REPLAYED[name]'s functions: the first run records each call's result in
    order; a later run gets the recorded results, deep-copied, in the same order.
    ``rewind()`` starts a later run (the calls of each run are the same, in order), and
    checks that the run before used what was recorded."""
    import copy
    import importlib
    calls: list[tuple[str, object]] = []
    pos = {"i": 0, "recording": True}

    def wrap(label, real):
        def wrapper(*args, **kwargs):
            if pos["recording"]:
                result = real(*args, **kwargs)
                calls.append((label, copy.deepcopy(result)))
                return result
            recorded_label, result = calls[pos["i"]]
            assert recorded_label == label, (recorded_label, label)
            pos["i"] += 1
            return copy.deepcopy(result)
        return wrapper

    for module, attr in REPLAYED.get(name, []):
        mod = importlib.import_module(module)
        monkeypatch.setattr(mod, attr, wrap(f"{module}.{attr}", getattr(mod, attr)))

    def rewind():
        if pos["recording"]:
            assert calls or name not in REPLAYED, f"{name}: nothing recorded"
            pos["recording"] = False
        else:
            assert pos["i"] == len(calls), f"{name}: {pos['i']} of {len(calls)} replayed"
        pos["i"] = 0
    return rewind


def render_at(args, width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = run(args, capsys)
    assert code in (0, 1), err
    return out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_terminal_view_fits_without_split_tokens(name, specs, capsys, monkeypatch):
    args = [a.format(**specs) for a in COMMANDS[name]]
    if name == "calibrate":
        _fixed_calibration(monkeypatch)
    rewind = replay(name, monkeypatch)
    wide = render_at(args, 1000, capsys, monkeypatch)
    assert wide.strip()
    for width in WIDTHS:
        rewind()
        text = render_at(args, width, capsys, monkeypatch)
        # a token longer than the width (a source's URL) stays whole on a line of its own
        long = [ln for ln in _ANSI.sub("", text).splitlines()
                if len(ln) > width and len(ln.split()) > 1]
        assert not long, f"{name} at {width} columns: {len(long)} lines too long: {long[0]!r}"
        split = pieces(text, wide)
        if name in TIMED:   # each run measures anew: its numbers differ between the runs
            split = [t for t in split if not _NUMBER.fullmatch(t)]
        assert not split, f"{name} at {width} columns splits tokens: {split[:8]}"
    rewind()


def test_pieces_finds_a_split_number_and_name():
    wide = "| conv1.conv | 118,013,952 |"
    assert pieces("| conv1.co | 118,013,95 |\n| nv        |          2 |", wide) == [
        "118,013,95", "conv1.co"]
    assert pieces("| conv1.conv | 118,013,952 |", wide) == []


def test_without_columns_a_pipe_gets_100_columns(monkeypatch, capsys):
    """COLUMNS unset and stdout not a terminal (a pipe, a file): the tables fit 100
    columns, and use them (a table with long cells is wider than 80)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, err = run(["variants"], capsys)
    assert code == 0, err
    widest = max(len(line) for line in _ANSI.sub("", out).splitlines())
    assert 80 < widest <= 100
