"""Every command of the README's tour and every file in examples/ runs as written.

The tour is read from README.md (the code block under "## A tour of the commands"),
so a README change to a command that no longer works fails here. Files the
commands would write go to a temporary folder (``-o``/``--out`` rewritten);
``profile`` runs 2 timed iterations. Everything runs from the repository root, so
``examples/...`` paths resolve as in the README.
"""
from __future__ import annotations

import os
import re
import runpy
import shlex
import sys

import pytest

from inception_cost.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def tour_commands() -> list[list[str]]:
    text = _read(os.path.join(ROOT, "README.md"))
    block = re.search(r"## A tour of the commands\s*```[a-z]*\n(.*?)```", text, re.S).group(1)
    cmds = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [c for c in cmds if c and c[0] == "inception-cost"]


def test_tour_is_found():
    cmds = tour_commands()
    assert len(cmds) >= 15 and {c[1] for c in cmds} >= {"layers", "train", "memory", "table",
                                                         "profile", "report", "check"}


def _sandboxed(args: list[str], tmp) -> list[str]:
    out = []
    it = iter(args)
    for a in it:
        if a in ("-o", "--output", "--out"):
            out += [a, str(tmp / os.path.basename(next(it)))]
        else:
            out.append(a)
    if out[0] == "report":
        out += ["--out", str(tmp / "reports"), "--no-plots"]
    if out[0] == "calibrate":
        out += ["--quick"]
    if out[0] == "profile":
        out += ["--iters", "2", "--warmup", "0", "--threads", "1"]
    return out


@pytest.mark.parametrize("cmd", tour_commands(), ids=lambda c: " ".join(c[1:])[:70])
def test_tour_command_runs(cmd, tmp_path, monkeypatch, capsys):
    if any("transformer_nets.py" in a for a in cmd):
        pytest.importorskip("transformers")
    monkeypatch.chdir(ROOT)
    args = _sandboxed(cmd[1:], tmp_path)
    code = main(args)
    out, err = capsys.readouterr()
    ok = (0, 1) if args[0] == "check" else (0,)   # check: 1 = counts drifted from reports/
    assert code in ok, f"`{' '.join(cmd)}` exited {code}: {err.strip()[-300:]}"
    if args[0] != "report":
        assert out.strip() or any(tmp_path.iterdir()), f"`{' '.join(cmd)}` printed nothing"


def _run_example(path: str, argv: list[str], monkeypatch, capsys) -> str:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [path, *argv])
    runpy.run_path(path, run_name="__main__")
    return capsys.readouterr().out


def test_example_count_custom_model(monkeypatch, capsys):
    out = _run_example(os.path.join(EXAMPLES, "count_custom_model.py"), [], monkeypatch, capsys)
    assert "totals:" in out and "fvcore itself:" in out


def test_example_compare_modules(monkeypatch, capsys):
    out = _run_example(os.path.join(EXAMPLES, "compare_modules.py"),
                       ["--input", "64x8x8", "--n1x1", "8", "--n3x3", "8", "--n5x5", "8",
                        "--reduce", "4"], monkeypatch, capsys)
    assert out.strip()


def test_example_profile_sweep(monkeypatch, capsys, tmp_path):
    out = _run_example(os.path.join(EXAMPLES, "profile_sweep.py"),
                       ["--device", "cpu", "--batch", "1", "--variants", "inception_naive",
                        "--iters", "2", "--output", str(tmp_path / "sweep.csv")],
                       monkeypatch, capsys)
    assert "inception_naive" in out and (tmp_path / "sweep.csv").exists()


def test_example_my_nets_commands(monkeypatch, capsys, tmp_path):
    """The commands in examples/my_nets.py's docstring."""
    doc = _read(os.path.join(EXAMPLES, "my_nets.py")).split('"""')[1]
    cmds = [shlex.split(l, comments=True) for l in doc.splitlines()
            if l.strip().startswith("inception-cost")]
    assert len(cmds) >= 3
    monkeypatch.chdir(ROOT)
    for cmd in cmds:
        args = [str(tmp_path / "costs") if a == "costs/" else a for a in cmd[1:]]
        code = main(args)
        _, err = capsys.readouterr()
        assert code == 0, f"`{' '.join(cmd)}`: {err}"


def test_example_transformer_nets_commands(monkeypatch, capsys):
    """The commands in examples/transformer_nets.py's docstring."""
    pytest.importorskip("transformers")
    doc = _read(os.path.join(EXAMPLES, "transformer_nets.py")).split('"""')[1]
    cmds = [shlex.split(l, comments=True) for l in doc.splitlines()
            if l.strip().startswith("inception-cost")]
    assert len(cmds) >= 3
    monkeypatch.chdir(ROOT)
    for cmd in cmds:
        code = main(cmd[1:])
        out, err = capsys.readouterr()
        assert code == 0 and out.strip(), f"`{' '.join(cmd)}`: {err}"


def test_example_ci_gate(monkeypatch, capsys, tmp_path):
    """ci_gate.yml installs from the checkout and gates a model by its name: the
    baseline made from one path is found from another."""
    text = _read(os.path.join(EXAMPLES, "ci_gate.yml"))
    runs = [l.split("run:", 1)[1].strip() for l in text.splitlines() if "- run:" in l]
    assert runs[0] == "pip install -e ."
    update = next(l.split("#", 1)[1].strip() for l in text.splitlines() if "--update" in l)
    gate = next(r for r in runs if r.startswith("inception-cost check"))
    nets = _read(os.path.join(EXAMPLES, "my_nets.py"))
    for where in ("first", "second"):
        (tmp_path / where / "mypkg").mkdir(parents=True)
        (tmp_path / where / "mypkg" / "nets.py").write_text(nets)
    base = str(tmp_path / "costs")
    monkeypatch.chdir(tmp_path / "first")
    args = [base if a == "costs/" else a for a in shlex.split(update)[1:]]
    assert main(args) == 0, capsys.readouterr().err
    # the same model, from another checkout path: the same baseline
    monkeypatch.chdir(tmp_path / "second")
    args = [base if a == "costs/" else a for a in shlex.split(gate)[1:]]
    assert main(args) == 0, capsys.readouterr().err


# ---- README "Transformers": the Python example prints what the README shows; its commands run
def _transformers_section() -> str:
    text = _read(os.path.join(ROOT, "README.md"))
    return re.search(r"\n## Transformers\n(.*?)\n## ", text, re.S).group(1)


def _blocks(section: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", section, re.S)


def _lines(text: str) -> list[str]:
    return [l.rstrip() for l in text.strip().splitlines()]


def test_readme_transformers_python_example(capsys):
    pytest.importorskip("transformers")
    code, printed = _blocks(_transformers_section())[:2]
    exec(compile(code, "README.md (Transformers)", "exec"), {"__name__": "readme"})
    assert _lines(capsys.readouterr().out) == _lines(printed)


def test_readme_transformers_commands(monkeypatch, capsys):
    """The commands of the section run; the first fails on meta with one error line
    naming --device cpu (as its comment says), the GPT-2 one prints the README's table."""
    pytest.importorskip("transformers")
    blocks = _blocks(_transformers_section())
    cmds = [shlex.split(l, comments=True) for l in blocks[2].splitlines() if l.strip()]
    assert len(cmds) == 5 and all(c[0] == "inception-cost" for c in cmds)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    for cmd in cmds:
        code = main(cmd[1:])
        out, err = capsys.readouterr()
        if cmd == cmds[0]:
            lines = err.strip().splitlines()
            assert code == 2 and len(lines) == 1 and "--device cpu" in lines[0], err
        else:
            assert code == 0 and out.strip(), f"`{' '.join(cmd)}` exited {code}: {err[-300:]}"
        if "gpt2" in cmd[2]:   # the centred title's padding aside, the lines shown
            assert [l.strip() for l in _lines(out)] == [l.strip() for l in _lines(blocks[3])]
