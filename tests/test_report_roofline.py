"""`report` draws the roofline from the per-layer CSVs `profile` writes."""
import pandas as pd

from micro import run
from inception_cost.report.plots import roofline

FACTORY = '''
import torch.nn as nn

def tiny():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    m.default_input_size = (3, 16, 16)
    return m
'''


def test_roofline_is_drawn_from_profile_csvs(tmp_path, capsys):
    model = tmp_path / "m.py"
    model.write_text(FACTORY)
    cpu = tmp_path / "reports" / "cpu"
    cpu.mkdir(parents=True)
    out = cpu / "tiny.csv"
    code, _, err = run(["profile", f"{model}:tiny", "--device", "cpu", "--warmup", "1",
                        "--iters", "3", "--threads", "1", "--per-layer", "--peak-tflops", "1",
                        "--peak-bandwidth", "0.05", "--format", "csv", "-o", str(out)], capsys)
    assert code == 0, err
    layers = cpu / "tiny.layers.csv"
    cols = set(pd.read_csv(layers).columns)
    assert {"intensity_flop_per_byte", "achieved_tflops"} <= cols   # what profile writes
    png = tmp_path / "roofline.png"
    assert roofline([str(layers)], str(png)) is True
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
