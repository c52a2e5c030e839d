"""Uncounted ops are never silently zero: listed with calls and module; strict=True and
`layers --strict` turn them into a usage error (exit 2, one line)."""
import textwrap

import pytest
import torch
import torch.nn as nn

from inception_cost import UsageError, count
from inception_cost.cli import main


@torch.library.custom_op("inception_cost_uncounted::running_total", mutates_args=())
def running_total(x: torch.Tensor) -> torch.Tensor:
    return torch.cumsum(x, dim=-1)


@running_total.register_fake
def _(x):
    return torch.empty_like(x)


OP = torch.ops.inception_cost_uncounted.running_total


class RunningSum(nn.Module):
    """A Linear followed by a custom op that has no formula, called twice."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4, bias=False)

    def forward(self, x):
        return running_total(running_total(self.fc(x)))


def test_uncounted_ops_listed_with_calls_and_module():
    r = count(RunningSum(), (3, 6))
    # the linear is counted: 3*6*4 = 72 MACs; cumsum is not
    assert r.total_macs == 72
    unc = r.uncounted
    assert list(unc["op"]) == ["running_total"]
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
    with pytest.raises(UsageError, match=r"running_total .*2 call\(s\)"):
        count(RunningSum(), (3, 6), strict=True)
    # strict with nothing uncounted: a normal report (Linear(6,4) on 3x6 = 72 MACs)
    assert count(nn.Linear(6, 4, bias=False), (3, 6), strict=True).total_macs == 72


def test_strict_is_satisfied_by_a_per_call_formula():
    from inception_cost.counting import Cost
    r = count(RunningSum(), (3, 6), strict=True,
              formulas={OP: lambda call: Cost(0, call.out_numel)})
    # the running total counted as one add per output element: 2 calls x 12 elements
    assert r.total_flops - count(RunningSum(), (3, 6)).total_flops == 2 * 12


def test_cli_strict_exit_2_one_line(tmp_path, capsys):
    f = tmp_path / "nets.py"
    f.write_text(textwrap.dedent("""
        import torch, torch.nn as nn
        @torch.library.custom_op("inception_cost_cli_test::scan", mutates_args=())
        def scan(x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(x, dim=1)
        @scan.register_fake
        def _(x):
            return torch.empty_like(x)
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                return scan(self.conv(x))
        def build():
            return Net()
    """))
    code = main(["layers", f"{f}:build", "--input", "3x8x8", "--strict"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "scan" in lines[0]
    # without --strict the table notes the op with its calls and module
    code = main(["layers", f"{f}:build", "--input", "3x8x8", "--format", "md"])
    out, err = capsys.readouterr()
    assert code == 0 and "scan x1 (in <top>)" in out
