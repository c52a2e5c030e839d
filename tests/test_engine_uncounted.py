"""Uncounted ops are never silently zero: listed with calls and module; strict=True and
`layers --strict` turn them into a usage error (exit 2, one line)."""
import textwrap

import pytest
import torch
import torch.nn as nn

from inception_cost import UsageError, count
from inception_cost.cli import main


class RunningSum(nn.Module):
    """A Linear followed by cumsum, an op with no formula, called twice."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4, bias=False)
        self.tail = nn.Identity()

    def forward(self, x):
        y = torch.cumsum(self.fc(x), dim=-1)
        return torch.cumsum(y, dim=0)


def test_uncounted_ops_listed_with_calls_and_module():
    r = count(RunningSum(), (3, 6))
    # the linear is counted: 3*6*4 = 72 MACs; cumsum is not
    assert r.total_macs == 72
    unc = r.uncounted
    assert list(unc["op"]) == ["cumsum"]
    assert list(unc["module"]) == [""] and list(unc["calls"]) == [2]


def test_data_movement_and_views_are_not_uncounted():
    class Moves(nn.Module):
        def forward(self, x):
            y = torch.cat([x, x], 1).view(2, -1).permute(1, 0).contiguous()
            idx = torch.arange(4)
            return y[idx].flip(0) + y.new_zeros(y.shape)[idx]
    r = count(Moves(), inputs=torch.zeros(2, 3))
    assert r.uncounted.empty and r.uncounted_ops == []


def test_strict_raises_naming_the_op():
    with pytest.raises(UsageError, match=r"aten\.cumsum .*2 call\(s\)"):
        count(RunningSum(), (3, 6), strict=True)
    # strict with nothing uncounted: a normal report (Linear(6,4) on 3x6 = 72 MACs)
    assert count(nn.Linear(6, 4, bias=False), (3, 6), strict=True).total_macs == 72


def test_strict_is_satisfied_by_a_per_call_formula():
    from inception_cost.counting import Cost
    r = count(RunningSum(), (3, 6), strict=True,
              formulas={torch.ops.aten.cumsum: lambda call: Cost(0, call.out_numel)})
    # cumsum counted as one add per output element: 2 calls x 12 elements
    assert r.total_flops - count(RunningSum(), (3, 6)).total_flops == 2 * 12


def test_cli_strict_exit_2_one_line(tmp_path, capsys):
    f = tmp_path / "nets.py"
    f.write_text(textwrap.dedent("""
        import torch, torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                return torch.cumsum(self.conv(x), dim=1)
        def build():
            return Net()
    """))
    code = main(["layers", f"{f}:build", "--input", "3x8x8", "--strict"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "cumsum" in lines[0]
    # without --strict the table notes the op with its calls and module
    code = main(["layers", f"{f}:build", "--input", "3x8x8", "--format", "md"])
    out, err = capsys.readouterr()
    assert code == 0 and "cumsum x1 (in <top>)" in out
