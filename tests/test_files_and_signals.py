"""Files, exit codes and signals as a user meets them: plots written atomically under
short names, a folder that cannot take them refused with one line (exit 2); stdout
on a full device is exit 2, never the gate's 1; a model's own prints go to stderr;
a BaseException from model code is one line; SIGTERM and Ctrl-C remove the temporary
file being written and end with one line (143 / 130)."""
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from micro import run

from inception_cost.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

NETS = '''
import os
import signal
import time

import torch.nn as nn

class Talky(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
    def forward(self, x):
        print("forward says hello")
        return self.fc(x.flatten(1))

def build():
    print("build says hello")
    return Talky()

class Stop(BaseException):
    pass

class Raises(nn.Module):
    def __init__(self, exc):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.exc = exc
    def forward(self, x):
        raise self.exc

def base_exception():
    return Raises(Stop("the model stops here"))

def generator_exit():
    return Raises(GeneratorExit())

def keyboard_interrupt():
    return Raises(KeyboardInterrupt())

def factory_raises():
    raise Stop("in the factory")

class CtrlC(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
    def forward(self, x):
        os.kill(os.getpid(), signal.SIGINT)    # the user presses Ctrl-C mid-forward
        time.sleep(30)                          # the handler interrupts this at once
        return self.fc(x.flatten(1))

def ctrl_c():
    return CtrlC()
'''


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    path = tmp_path_factory.mktemp("nets") / "nets.py"
    path.write_text(NETS)
    return str(path)


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


def child_env():
    return {**os.environ, "PYTHONPATH": REPO}


# --- plots ------------------------------------------------------------------
def memory_plots(spec, folder):
    return ["memory", spec, "--input", "2x2x2", "--format", "csv", "--plots", str(folder)]


def test_plots_into_a_folder_that_cannot_take_them_is_one_line_exit_2(nets, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [("/dev/full", "not a folder"), (str(a_file / "plots"), "Not a directory")]
    if os.geteuid() != 0:
        ro = tmp_path / "read_only"
        ro.mkdir()
        ro.chmod(0o500)
        cases.append((str(ro), "Permission denied"))
    elif os.path.isdir("/sys"):
        cases.append(("/sys", "Permission denied"))     # root may write anywhere but sysfs
    for folder, phrase in cases:
        code, out, err = run(memory_plots(f"{nets}:build", folder), capsys)
        line = one_error(err.replace("build says hello\n", ""))
        assert code == 2, (folder, err)
        assert f"--plots '{folder}'" in line and phrase in line, line
        assert out == ""                      # refused before any table is written


def test_plot_names_are_short_and_safe_for_a_deeply_nested_model_file(tmp_path, capsys):
    deep = tmp_path / ("d" * 200) / ("e" * 200)
    deep.mkdir(parents=True)
    model = deep / (("n" * 200) + ".py")
    model.write_text(NETS)
    out_dir = tmp_path / "plots"
    code, out, err = run(memory_plots(f"{model}:build", out_dir), capsys)
    assert code == 0, err
    names = sorted(os.listdir(out_dir))
    assert len(names) == 2
    for n in names:
        # the model's file path (600+ characters) is not in the name: 255 bytes is the
        # limit of most file systems, and the name stays readable
        assert len(n.encode()) <= 100 and "/" not in n and "d" * 20 not in n, n
        assert (out_dir / n).read_bytes()[:8] == PNG_MAGIC


def run_limited(code: str, limit_bytes: int, cwd) -> subprocess.CompletedProcess:
    """``code`` in a child whose files may not grow past ``limit_bytes`` (RLIMIT_FSIZE;
    Python ignores SIGXFSZ, so a write past it fails with EFBIG, as on a full disk)."""
    prelude = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {REPO!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=child_env())


def test_a_full_disk_never_leaves_a_cut_plot(nets, tmp_path):
    out_dir = tmp_path / "plots"
    out_dir.mkdir()
    from inception_cost.report.memory_plots import plot_stem
    spec = f"{nets}:build"
    before = {f"{plot_stem(spec)}_b1_inference_memory_{kind}.png": PNG_MAGIC + b"good old plot"
              for kind in ("timeline", "modules")}
    for name, data in before.items():
        (out_dir / name).write_bytes(data)
    p = run_limited(f"""
        from inception_cost.cli import main
        sys.exit(main({memory_plots(spec, out_dir)!r}))
    """, 4096, tmp_path)
    assert p.returncode == 2, p.stderr
    line = one_error(p.stderr.replace("build says hello\n", "").replace("forward says hello\n", ""))
    assert str(out_dir) in line and ".png" in line and "too large" in line.lower()
    # every plot is the old one, byte for byte, and no temporary file is left
    assert {n: (out_dir / n).read_bytes() for n in os.listdir(out_dir)} == before


# --- stdout and exit codes ----------------------------------------------------
def test_stdout_on_a_full_device_is_exit_2_not_the_gates_1(nets, tmp_path, capsys):
    base = tmp_path / "base"
    gate = ["check", "--model", f"{nets}:build", "--input", "2x2x2", "--name", "net",
            "--baseline", str(base)]
    assert run(gate + ["--update"], capsys)[0] == 0
    with open("/dev/full", "w") as full:      # `inception-cost check ... > /dev/full`
        p = subprocess.run([sys.executable, "-m", "inception_cost", *gate], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=300, env=child_env())
    err = p.stderr.replace("build says hello\n", "").replace("forward says hello\n", "")
    assert p.returncode == 2, p.stderr          # nothing drifted: 1 would say it did
    assert one_error(err) == "error: cannot write to stdout: No space left on device"


def test_a_models_prints_go_to_stderr_and_csv_on_stdout_stays_clean(nets, capsys):
    code, out, err = run(["layers", f"{nets}:build", "--input", "2x2x2", "--format", "csv"], capsys)
    assert code == 0, err
    assert "hello" not in out
    assert "build says hello" in err and "forward says hello" in err
    df = pd.read_csv(io.StringIO(out))
    # one Linear 8 -> 4: 8*4 weights + 4 biases, 8*4 MACs
    assert df["params"].sum() == 8 * 4 + 4 and df["macs"].sum() == 8 * 4
    code, out, err = run(["memory", f"{nets}:build", "--input", "2x2x2", "--format", "json"],
                         capsys)
    assert code == 0 and out.lstrip().startswith("{") and "hello" in err


@pytest.mark.parametrize("factory,phrase", [("base_exception", "Stop: the model stops here"),
                                            ("generator_exit", "GeneratorExit"),
                                            ("factory_raises", "Stop: in the factory")])
def test_a_base_exception_from_model_code_is_one_line_exit_2(nets, capsys, factory, phrase):
    for cmd in (["layers"], ["memory"], ["train", "--batch", "2"]):
        code, out, err = run([*cmd, f"{nets}:{factory}", "--input", "2x2x2"], capsys)
        assert code == 2, (cmd, err)
        assert phrase in one_error(err), err


def test_keyboard_interrupt_from_model_code_is_exactly_one_line(nets, capsys):
    code, out, err = run(["layers", f"{nets}:keyboard_interrupt", "--input", "2x2x2"], capsys)
    assert code == 130
    assert err == "error: interrupted\n"        # no blank line before it


# The in-process calls below belong to a caller (this test run): the caller's SIGINT
# handler must be the same object after the call, and its Ctrl-C must reach it (before
# the fix, `main` answered a Ctrl-C with exit 130 and pytest ran on).
def _callers_handler(signum, frame):
    raise KeyboardInterrupt("the caller's handler")


@pytest.fixture(params=["default_int_handler", "the caller's own"])
def sigint_handler(request):
    """SIGINT set to Python's default handler (pytest's) or to a function of the caller's,
    for the test; the handler that was there is put back after it."""
    handler = (signal.default_int_handler if request.param == "default_int_handler"
               else _callers_handler)
    saved = signal.signal(signal.SIGINT, handler)
    yield handler
    signal.signal(signal.SIGINT, saved)


def test_an_in_process_call_leaves_the_callers_sigint_handler(nets, capsys, sigint_handler):
    for argv, expected in ((["layers", f"{nets}:build", "--input", "2x2x2"], 0),
                           (["layers", f"{nets}:keyboard_interrupt", "--input", "2x2x2"], 130),
                           (["layers", "no-such-model"], 2)):
        code, out, err = run(argv, capsys)
        assert code == expected, err
        assert signal.getsignal(signal.SIGINT) is sigint_handler, argv


def test_ctrl_c_during_an_in_process_call_reaches_the_caller(nets, capsys, sigint_handler):
    with pytest.raises(KeyboardInterrupt):
        main(["layers", f"{nets}:ctrl_c", "--input", "2x2x2"])
    assert signal.getsignal(signal.SIGINT) is sigint_handler
    assert "error: interrupted" not in capsys.readouterr().err


# --- signals --------------------------------------------------------------------
# The child runs `python -m inception_cost` (runpy, as the shell would) with the atomic
# writer held just after its temporary file is complete: the parent signals it then.
HELD_WRITE = """
import os, runpy, sys, time
sys.path.insert(0, {repo!r})
import inception_cost.atomic as atomic
real = atomic._keep_mode
def held(path, tmp):
    with open({ready!r} + ".part", "w") as fh:
        fh.write(tmp)
    os.replace({ready!r} + ".part", {ready!r})
    time.sleep(60)
    real(path, tmp)
atomic._keep_mode = held
sys.argv = ["inception-cost", "layers", {spec!r}, "--input", "2x2x2", "--format", "csv",
            "-o", {target!r}]
runpy.run_module("inception_cost", run_name="__main__")
"""


def test_sigterm_while_a_temporary_file_exists_removes_it_exit_143(nets, tmp_path):
    """Handled like Ctrl-C (whose clean-up is the same path; its one line is checked
    above): the temporary file is removed, the old file stays, one line, exit 143."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "layers.csv"
    target.write_text("old,content\n")
    ready = tmp_path / "ready"
    child = HELD_WRITE.format(repo=REPO, ready=str(ready), spec=f"{nets}:build",
                              target=str(target))
    p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env())
    deadline = time.time() + 240
    while not ready.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert ready.exists(), p.communicate(timeout=60)
    tmp = ready.read_text()
    assert os.path.exists(tmp) and os.path.dirname(tmp) == str(out_dir)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    err = err.replace("build says hello\n", "").replace("forward says hello\n", "")
    assert p.returncode == 143, err
    assert err == "error: terminated (SIGTERM)\n"        # one line, no traceback
    assert os.listdir(out_dir) == ["layers.csv"]                 # the temporary is gone
    assert target.read_text() == "old,content\n"                  # the old file is whole
