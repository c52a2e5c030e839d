"""Quick commands import neither torchvision nor timm nor matplotlib (nor fvcore);
the group's --help imports no torch at all."""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("torchvision", "timm", "matplotlib", "fvcore")
SCRIPT = """
import contextlib, io, json, sys
from inception_cost.cli import main
seen = {}
for cmd in (["module"], ["table"], ["factorize"], ["cases"], ["layers", "googlenet", "--depth", "0"],
            ["layers", "googlenet"], ["layers", "googlenet", "--tree"], ["predict", "googlenet"],
            ["devices"]):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(cmd) == 0, cmd
    seen[" ".join(cmd)] = sorted(m for m in %r if m in sys.modules)
print(json.dumps(seen))
""" % (HEAVY,)


def _env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_quick_commands_import_no_model_zoo_or_plotting():
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=_env(), capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        "module": [], "table": [], "factorize": [], "cases": [], "layers googlenet --depth 0": [],
        "layers googlenet": [], "layers googlenet --tree": [], "predict googlenet": [],
        "devices": []}


def test_help_imports_no_torch_and_is_quick():
    code = ("import sys, time; t = time.process_time(); from inception_cost.cli import main; "
            "main(['--help']); print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', "
            "time.process_time() - t)")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.split()
    assert out[-2] == "NO-TORCH"
    assert float(out[-1]) < 0.5          # CPU seconds after the interpreter started
