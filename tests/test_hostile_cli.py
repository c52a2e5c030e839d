"""The hostile corpus: inputs a new user (or a careless script) gives the command
line. Each one must end in exactly one `error:` line on stderr and exit 2 (or the
documented code), with no traceback and no file left behind."""
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from inception_cost.cli import cli, command_summaries, main
from cli_child import child_code, run_in_one_child
from micro import run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MY_NETS = os.path.join(REPO, "examples", "my_nets.py")

HOSTILE_MODELS = '''
import sys
import torch
import torch.nn as nn

class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3)
    def forward(self, x):
        return self.c(x)

class ReadsValues(Plain):
    def forward(self, x):
        y = self.c(x)
        return y * 2 if y.sum() > 0 else y

class TupleWithInt(Plain):
    def forward(self, x):
        return self.c(x), 3

class ExitsInForward(Plain):
    def forward(self, x):
        sys.exit(4)

def plain(): return Plain()
def reads_values(): return ReadsValues()
def tuple_int(): return TupleWithInt()
def exits(): sys.exit(3)
def exits_in_forward(): return ExitsInForward()
def bad_size_text():
    m = Plain(); m.default_input_size = "abc"; return m
def bad_size_float():
    m = Plain(); m.default_input_size = (1.5, 8, 8); return m
def bad_size_zero():
    m = Plain(); m.default_input_size = (3, 0, 8); return m
'''


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    f = d / "hostile_nets.py"
    f.write_text(HOSTILE_MODELS)
    return str(f)


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err and "internal error" not in err
    return lines[0]


# (arguments, a phrase the one error line must contain); {nets} is the hostile model file
EXIT_2 = [
    (["layers", "googlenet", "--input", "99999999999999999999x1x1"], "too large"),
    (["layers", "googlenet", "--input", "3x0x224"], "positive"),
    (["layers", "googlenet", "--input", "3x224"], "CxHxW"),
    (["layers", "googlenet", "--batch", "10^12"], "not a valid integer"),
    (["layers", "googlenet", "--batch", "2^63"], "not a valid integer"),
    (["layers", "googlenet", "--batch", str(10**20)], "2^63 - 1 bytes"),
    (["layers", "googlenet", "--batch", str(2**63)], "2^63 - 1 bytes"),
    (["layers", "googlenet", "--batch", "0"], "positive"),
    (["layers", "googlenet", "--depth", "-1"], ">= 0"),
    (["layers", "googlenet", "--engine", "fvcore", "--input", "3x8x8"], "too small"),
    (["layers", "googlenet", "--engine", "fvcore", "--batch", "100000"], "GiB limit"),
    (["layers", "googlenet", "--device", "cpu", "--batch", "100000"], "GiB limit"),
    (["layers", "{nets}:tuple_int", "--input", "3x8x8", "--engine", "fvcore"],
     "--engine fvcore could not count"),
    (["layers", "{nets}:bad_size_text"], "default_input_size 'abc'"),
    (["layers", "{nets}:bad_size_float"], "default_input_size (1.5, 8, 8)"),
    (["layers", "{nets}:bad_size_zero"], "three positive integers"),
    (["layers", "{nets}:exits"], "sys.exit(3)"),
    (["layers", "{nets}:exits_in_forward", "--input", "3x8x8"], "sys.exit(4)"),
    (["layers", "{nets}:reads_values", "--input", "3x8x8"], "--device cpu"),
    (["layers", "{nets}:nope"], "no callable 'nope'"),
    (["layers", "no_such_variant_xyz"], "unknown variant"),
    (["layers", "googlenet", "-o", "/dev/full"], "'/dev/full'"),
    (["layers", "googlenet", "-o", "/no/such/folder/out.txt"], "no such folder"),
    (["check", "--variants", ",,"], "names no variant"),
    (["check", "--variants", ""], "names no variant"),
    (["check", "--variants", "googlenet", "--baseline", "/no/such/folder"], "does not exist"),
    (["factorize", "--channels", "0"], ""),
    (["module", "--n1x1", "-3"], "positive"),
    (["table", "resnet"], "no paper table"),
    (["profile", MY_NETS + ":build", "--device", "cpu", "--iters", "2", "--warmup", "0",
      "-o", "/dev/full"], "'/dev/full'"),
]


@pytest.mark.parametrize("args, phrase", EXIT_2, ids=[" ".join(a)[:60] for a, _ in EXIT_2])
def test_hostile_input_is_one_error_line_and_exit_2(args, phrase, nets, capsys):
    args = [a.replace("{nets}", nets) for a in args]
    code, out, err = run(args, capsys)
    if args[0] == "profile":   # progress ("[1/1] ...: 3.2 ms") and timing warnings go to stderr too
        err = "\n".join(l for l in err.splitlines()
                        if not re.match(r"(\[\d+/\d+\] |warning: |notice)", l))
    line = one_error(err)
    assert code == 2, (code, err)
    assert phrase in line, line


def test_factorize_at_100000_channels_counts_on_meta(capsys):
    """C = 100,000: the 5x5 conv alone would be 250 G weights (1 TB in fp32) if built;
    counted on the meta device it costs nothing. 5x5: 25 C^2 weights, two 3x3: 18 C^2;
    MACs at 17x17 outputs: x 289."""
    code, out, err = run(["factorize", "--channels", "100000", "--format", "csv"], capsys)
    assert code == 0, err
    first = out.split("\n\n")[0]
    df = pd.read_csv(__import__("io").StringIO(first))
    row = df[df["comparison"] == "5×5 vs two 3×3"].iloc[0]
    c2 = 100_000 ** 2
    assert int(row["single params"]) == 25 * c2 and int(row["stacked params"]) == 18 * c2
    assert int(row["single MACs"]) == 25 * c2 * 17 * 17


def test_layers_device_cpu_counts_a_forward_that_reads_values(nets, capsys):
    """The forward doubles y when y.sum() > 0: on CPU it runs. Conv 3->8, 3x3 on 8x8:
    6x6x8 outputs x 27 taps = 7,776 MACs; params 8*27 + 8 = 224."""
    code, out, err = run(["layers", f"{nets}:reads_values", "--input", "3x8x8", "--device",
                          "cpu", "--depth", "0", "--format", "csv"], capsys)
    assert code == 0, err
    df = pd.read_csv(__import__("io").StringIO(out))
    assert list(df["module"]) == ["(whole model)"]
    assert int(df["macs"].iloc[0]) == 6 * 6 * 8 * 27 and int(df["params"].iloc[0]) == 224


def test_depth_0_is_one_named_row_without_a_repeated_total(nets, capsys):
    code, out, err = run(["layers", f"{nets}:plain", "--input", "3x8x8", "--depth", "0",
                          "--format", "md"], capsys)
    assert code == 0, err
    body = [l for l in out.splitlines() if l.startswith("| ") and "module" not in l]
    assert len(body) == 1 and "(whole model)" in body[0] and "TOTAL" not in out


def test_fvcore_engine_fills_shapes_from_the_module_and_drops_activations(nets, capsys):
    code, out, err = run(["layers", f"{nets}:plain", "--input", "3x8x8", "--engine", "fvcore",
                          "--format", "csv"], capsys)
    assert code == 0, err
    df = pd.read_csv(__import__("io").StringIO(out), keep_default_na=False)
    conv = df[df["module"] == "c"].iloc[0]
    assert (conv["in_shape"], conv["out_shape"]) == ("1x3x8x8", "1x8x6x6")
    assert "activations" not in df.columns
    assert int(conv["flops"]) == 6 * 6 * 8 * 27        # fvcore: one per MAC


def test_no_partial_file_after_a_failed_command(nets, tmp_path, capsys):
    target = tmp_path / "out.csv"
    code, out, err = run(["layers", f"{nets}:exits_in_forward", "--input", "3x8x8", "-o",
                          str(target)], capsys)
    assert code == 2 and not target.exists() and os.listdir(tmp_path) == []


# --- the gate --------------------------------------------------------------
NET = """import torch.nn as nn
def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
"""


@pytest.fixture
def gate(tmp_path):
    f = tmp_path / "net.py"
    f.write_text(NET)
    base = tmp_path / "base"
    args = ["check", "--model", f"{f}:build", "--input", "3x6x6", "--name", "net",
            "--baseline", str(base)]
    assert main(args + ["--update"]) == 0
    return args, base / "layers" / "net.csv"


@pytest.mark.parametrize("content, phrase", [
    (b"\xff\xfe\x00\x01binary", "not UTF-8"),
    (b"module,op\x00,x\n", "NUL"),
    (None, "2^63-1"),       # a count of 10**30 (no count at batch 1 can be that large)
    (None, "0..2^63-1"),    # a negative count
])
def test_corrupt_baselines_are_exit_2_and_update_repairs_them(gate, content, phrase, capsys):
    args, path = gate
    capsys.readouterr()
    if content is None:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df.loc[0, "macs"] = "1" + "0" * 30 if phrase == "2^63-1" else "-5"
        df.to_csv(path, index=False)
    else:
        path.write_bytes(content)
    code, out, err = run(args, capsys)
    assert code == 2 and phrase in one_error(err)
    code, out, err = run(args + ["--update"], capsys)
    assert code == 0 and "repaired" in out, err
    code, out, err = run(args, capsys)
    assert code == 0 and "check passed" in out


def test_orphan_baseline_fails_the_gate_and_update_removes_it(tmp_path, capsys):
    """Checking every variant: a baseline whose variant no longer exists is drift
    (exit 1, the file named); --update removes it."""
    import inception_cost.cli.check_cmd as check_cmd
    from inception_cost.models.registry import get_variant
    info = get_variant("inception_reduced")
    orig = check_cmd.variants
    check_cmd.variants = lambda: [info]
    try:
        base = tmp_path / "b"
        assert main(["check", "--baseline", str(base), "--update"]) == 0
        orphan = base / "layers" / "renamed_variant.csv"
        orphan.write_bytes((base / "layers" / "inception_reduced.csv").read_bytes())
        capsys.readouterr()
        code, out, err = run(["check", "--baseline", str(base)], capsys)
        assert code == 1 and str(orphan) in out and "orphan" in err
        code, out, err = run(["check", "--baseline", str(base), "--format", "json"], capsys)
        assert code == 1 and str(orphan) in out
        code, out, err = run(["check", "--baseline", str(base), "--update"], capsys)
        assert code == 0 and not orphan.exists() and "removed orphan" in out
        code, out, err = run(["check", "--baseline", str(base)], capsys)
        assert code == 0 and "check passed: 1 variant(s)" in out
    finally:
        check_cmd.variants = orig


# --- start-up, help, encodings, signals ------------------------------------
def test_help_does_not_import_torch():
    code = ("import sys; sys.path.insert(0, %r); from inception_cost.cli import main; "
            "rc = main(['--help']); print('torch' in sys.modules, 'pandas' in sys.modules, rc)"
            % REPO)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout.strip().splitlines()[-1] == "False False 0", p.stdout + p.stderr
    assert "layers" in p.stdout and "Commands:" in p.stdout


def test_help_summaries_match_the_commands():
    """The summaries --help reads from the source equal the imported commands' own."""
    summaries = command_summaries()
    from inception_cost.cli import _register
    _register()
    import click
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert summaries is not None and sorted(summaries) == sorted(names), \
        "each module commands.py imports must define @click.command(\"name\") at top level"
    for n in names:
        first = cli.get_command(ctx, n).help.split("\n\n")[0]
        assert " ".join(first.split()) == summaries[n], n
    lazy = subprocess.run([sys.executable, "-m", "inception_cost", "--help"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    assert lazy.returncode == 0
    eager = cli.get_help(click.Context(cli, info_name="inception-cost", **cli.context_settings))
    assert lazy.stdout == eager + "\n"


# Both ASCII-locale commands run in one child (tests/cli_child.py: Python and torch start
# once), each as the shell would run it.
ASCII_RUNS = {"module": ["module"], "bad input": ["layers", "googlenet", "--input", "3×0×0"]}


@pytest.fixture(scope="module")
def ascii_runs():
    """{name: (exit code, stdout, stderr)} of ASCII_RUNS under PYTHONIOENCODING=ascii."""
    return run_in_one_child(ASCII_RUNS, env={"PYTHONIOENCODING": "ascii"})


def test_ascii_stdout_prints_the_module_table(ascii_runs):
    code, out, err = ascii_runs["module"]
    assert code == 0 and "Traceback" not in err, err
    assert out.isascii() and "naive" in out.lower()


def test_ascii_stderr_still_gets_one_error_line(ascii_runs):
    code, out, err = ascii_runs["bad input"]
    assert code == 2 and one_error(err)


def test_sigint_while_torch_imports_is_one_line_exit_130():
    """SIGINT as soon as torch's libraries are being loaded: no KeyboardInterrupt
    traceback, one line, exit 130 (the console script installs the handler before
    anything heavy is imported)."""
    e = {**os.environ, "PYTHONPATH": REPO}
    code = ("import sys; sys.path.insert(0, %r); from inception_cost.cli import entry; "
            "sys.argv = ['inception-cost', 'layers', 'googlenet']; entry()" % REPO)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e)
    deadline = time.time() + 120
    maps = f"/proc/{p.pid}/maps"
    while time.time() < deadline and p.poll() is None:
        try:
            with open(maps) as fh:
                if "libtorch" in fh.read():
                    break
        except OSError:
            break
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    if p.returncode == 0:
        pytest.skip("the command finished before the signal arrived")
    assert p.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines() == ["error: interrupted"]


# --- colour follows the destination -----------------------------------------
TERMINAL_ARGS = [["table"], ["layers", "googlenet", "--depth", "1"]]
# One child runs every command as the shell would (`python -m inception_cost`, each through
# runpy, the package's __main__ and its own exit), once to the terminal and once with
# `-o out.txt`, so Python and torch start once instead of four times; colour is decided
# per command, from the stream each one writes to.  After each command the child writes a
# marker with its exit code to the terminal (tests/cli_child.py).


def _in_a_terminal(runs, cwd):
    """Run each argument list in turn with stdout and stderr on a pseudo-terminal (as from
    a shell): [(exit code, what the terminal showed)] per run."""
    import pty
    master, slave = pty.openpty()
    e = {**os.environ, "PYTHONPATH": REPO, "TERM": "xterm-256color", "COLUMNS": "100"}
    e.pop("NO_COLOR", None)
    p = subprocess.Popen([sys.executable, "-c", child_code(runs, marker_fds=(1,))],
                         stdout=slave, stderr=slave, env=e, cwd=cwd)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert p.wait(timeout=300) == 0
    shown = b"".join(chunks).decode("utf-8", "replace")
    parts = re.split(r"\r?\n@@run (\d+) exit (\S+)@@\r?\n", shown)
    assert [int(i) for i in parts[1::3]] == list(range(len(runs))), shown[-2000:]
    return [(int(code), text) for text, code in zip(parts[0::3], parts[2::3])]


@pytest.fixture(scope="module")
def terminal_runs(tmp_path_factory):
    """{command: ((exit code, terminal), (exit code, terminal, out.txt's text))}: each of
    TERMINAL_ARGS run in a terminal, then with -o out.txt in its own folder."""
    base = tmp_path_factory.mktemp("terminal")
    runs, outs = [], []
    for i, args in enumerate(TERMINAL_ARGS):
        out = base / f"run{i}" / "out.txt"
        out.parent.mkdir()
        runs += [args, args + ["-o", str(out)]]
        outs.append(out)
    shown = _in_a_terminal(runs, base)
    result = {}
    for i, args in enumerate(TERMINAL_ARGS):
        out = outs[i]
        text = out.read_text(encoding="utf-8") if out.exists() else ""
        result[" ".join(args)] = (shown[2 * i], (*shown[2 * i + 1], text))
    return result


@pytest.mark.parametrize("args", TERMINAL_ARGS)
def test_output_file_from_a_terminal_holds_no_ansi_codes(args, terminal_runs):
    (code, shown), (code_o, _shown_o, text) = terminal_runs[" ".join(args)]
    assert code == 0 and "\x1b[" in shown          # the terminal itself gets colour
    assert code_o == 0 and "\x1b" not in text and len(text.splitlines()) > 10


def test_table_terminal_view_fits_100_columns_and_wide_keeps_every_column(capsys):
    code, out, err = run(["table"], capsys)
    assert code == 0 and max(len(l) for l in out.splitlines()) <= 100
    assert "#3×3 red" not in out and "[1]" in out                 # audit as footnotes
    code, wide, err = run(["table", "--wide"], capsys)
    assert code == 0 and "#3×3 red" in wide and "audit tags" in wide
    code, md, err = run(["table", "--format", "md"], capsys)
    assert "#3×3 red" in md and "Δ MACs" in md                   # md keeps the full table


def test_check_writes_its_diff_as_csv_to_a_file(gate, tmp_path, capsys):
    args, path = gate
    net = args[2].rsplit(":", 1)[0]
    with open(net, "w") as fh:    # conv 3->4 becomes 3->5
        fh.write(NET.replace("Conv2d(3, 4, 3)", "Conv2d(3, 5, 3)"))
    out_file = tmp_path / "diff.csv"
    code, out, err = run(args + ["--format", "csv", "-o", str(out_file)], capsys)
    assert code == 1, err
    df = pd.read_csv(out_file, dtype=str, keep_default_na=False)
    conv = df[(df["module"] == "0") & (df["change"] == "changed")].iloc[0]
    # 4x4 outputs x 27 taps per output channel: 4 -> 5 channels
    assert (int(conv["old_macs"]), int(conv["new_macs"])) == (4 * 4 * 4 * 27, 4 * 4 * 5 * 27)


def test_profile_resume_on_a_damaged_csv_is_one_error_line(tmp_path, capsys):
    from inception_cost.profiling.sweep import RUN_COLUMNS
    header = ",".join(RUN_COLUMNS)
    cases = {"garbage.csv": b"\x00\x01garbage,\xff\n\"unterminated\n",
             "bad_quote.csv": (header + "\n\"unterminated\n").encode(),
             "bad_row.csv": (header + "\ngooglenet,cpu,x,fp32,False,False,False,eight,ok\n").encode()}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        code, out, err = run(["profile", MY_NETS + ":build", "--device", "cpu", "--iters", "2",
                              "--warmup", "0", "--format", "csv", "-o", str(path), "--resume"],
                             capsys)
        line = one_error(err)
        assert code == 2 and name in line, line
        assert path.read_bytes() == content          # the file is left as it was


def test_report_says_when_it_skips_plots(tmp_path, monkeypatch, capsys):
    import inception_cost.report.plots as plots
    import inception_cost.regeneration.regenerate as rg
    monkeypatch.setattr(rg, "variant_reports", lambda names=None: iter(()))
    monkeypatch.setattr(rg, "paper_artifacts", lambda: [("papers/x.md", "x\n")])
    monkeypatch.setattr(plots, "available", lambda: False)
    code, out, err = run(["report", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "plots skipped: matplotlib is not installed" in err
    code, out, err = run(["report", "--out", str(tmp_path / "r"), "--no-plots"], capsys)
    assert code == 0 and "plots skipped" not in err
