"""``memory MODEL --fit SIZE --checkpoint auto`` on a small network (FitNet: 4 candidate
blocks, 3x16x16 inputs, Adam, steady step), each of its two answers checked independently
with the memory API and PyTorch's FlopCounterMode:

* the largest batch without checkpointing is what ``memory --fit SIZE --train`` alone says,
  and by the API its peak fits the budget less the 5% reserve while batch + 1 does not;
* the largest batch with checkpointing: the wrapped model's exact peak at that batch fits,
  and at batch + 1 *no* subset of the candidates fits (all 16 analysed);
* the plan at that batch is the least-recompute subset that fits, by brute force over all
  16 subsets (peaks from memory analyses of each wrapped subset, recompute from
  FlopCounterMode's FLOPs of the wrapped minus the unwrapped forward + backward).

Plus the planner's bad-input messages from the CLI that tests/test_checkpoint_cli.py does
not pin down (the numbers they state; ``auto`` without ``--fit``; missing plan files,
repeated modules, a foreign format).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from itertools import combinations

import pytest
import torch

from inception_cost import apply_checkpointing, memory
from inception_cost.checkpointing import candidate_modules
from inception_cost.cli import main

from checkpoint_nets import FIT_BLOCKS, FitNet
from micro import run

NET = os.path.join(os.path.dirname(__file__), "checkpoint_nets.py") + ":FitNet"
MEMORY = ["memory", NET, "--optimizer", "adam"]   # the hand numbers below are Adam's
CHW = (3, 16, 16)
BUDGET = 4 * 2**20                        # --fit 4MiB
USABLE = BUDGET - BUDGET * 5 // 100       # less the default 5% reserve (bytes)
SUBSETS = [c for k in range(len(FIT_BLOCKS) + 1) for c in combinations(FIT_BLOCKS, k)]


def cli_json(args):
    """Run the CLI in-process; its stdout parsed as JSON (exit code 0 asserted)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


def peak(net, modules, batch) -> int:
    """Exact predicted peak (bytes) of the steady Adam step of ``net`` with ``modules``
    checkpointed."""
    model = apply_checkpointing(net, modules) if modules else net
    return memory(model, CHW, batch=batch, training=True, optimizer="adam").peak_bytes


def fcm_flops(model, batch) -> int:
    """FlopCounterMode's FLOPs of one forward + backward on meta tensors."""
    from torch.utils.flop_counter import FlopCounterMode
    model = apply_checkpointing(model, []).to("meta").train()
    x = torch.randn(batch, *CHW, device="meta")
    with FlopCounterMode(display=False) as f:
        model(x).sum().backward()
    return f.get_total_flops()


@pytest.fixture(scope="module")
def net():
    return FitNet()


@pytest.fixture(scope="module")
def answer(tmp_path_factory):
    """The CLI's two rows (none, auto) and the plan it saved."""
    plan = tmp_path_factory.mktemp("fit") / "plan.json"
    rows = cli_json([*MEMORY, "--input", "x".join(map(str, CHW)), "--fit", "4MiB",
                     "--checkpoint", "auto", "--save-plan", str(plan), "--format", "json"])["rows"]
    by = {r["checkpointing"]: r for r in rows}
    assert set(by) == {"none", "auto"}
    return by["none"], by["auto"], json.loads(plan.read_text())


def test_candidates_are_the_four_blocks(net):
    assert candidate_modules(net) == FIT_BLOCKS


def test_largest_batch_without_plan(net, answer):
    none, _auto, _plan = answer
    plain = cli_json([*MEMORY, "--input", "3x16x16", "--fit", "4MiB", "--train",
                      "--format", "json"])["rows"]
    assert len(plain) == 1
    assert none["largest_batch"] == plain[0]["largest_batch"]
    assert none["peak_bytes"] == plain[0]["peak_bytes"]
    b = none["largest_batch"]
    assert b >= 1 and none["recompute_macs"] == 0 and none["modules"] == ""
    assert peak(net, (), b) == none["peak_bytes"] <= USABLE < peak(net, (), b + 1)


def test_largest_batch_with_plan(net, answer):
    none, auto, saved = answer
    b = auto["largest_batch"]
    modules = auto["modules"].split()
    assert saved["modules"] == modules and saved["batch"] == b
    assert saved["budget_bytes"] == USABLE
    assert b > none["largest_batch"] and modules
    assert peak(net, modules, b) == auto["peak_bytes"] == saved["predicted_peak_bytes"]
    assert auto["peak_bytes"] <= USABLE
    # at batch + 1 no plan at all fits: every subset of the candidates analysed
    over = {c: peak(net, c, b + 1) for c in SUBSETS}
    assert min(over.values()) > USABLE, min(over.items(), key=lambda kv: kv[1])


def test_plan_at_that_batch_is_the_brute_force_optimum(net, answer):
    """Least recompute FLOPs among the subsets that fit (ties: any of the cheapest)."""
    _none, auto, saved = answer
    b = auto["largest_batch"]
    base = fcm_flops(net, b)
    table = {}
    for combo in SUBSETS:
        table[combo] = (peak(net, combo, b),
                        fcm_flops(apply_checkpointing(net, combo), b) - base)
    fitting = {c: v for c, v in table.items() if v[0] <= USABLE}
    best = min(v[1] for v in fitting.values())
    chosen = tuple(auto["modules"].split())
    assert chosen in fitting
    assert table[chosen][1] == best == 2 * auto["recompute_macs"]
    assert saved["recompute_flops"] >= best   # FLOPs also count non-MAC ops (BN, ReLU)


# ---- bad input from the CLI: one error line, exit 2, no file written ----

BASE = [*MEMORY, "--input", "3x16x16", "--batch", "8", "--train"]


def one_error(code, err, needle):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]


def test_budget_below_static_states_how_much(capsys, tmp_path, net):
    params = list(net.parameters())
    # Adam, fp32: parameters + gradients + two moments (4 bytes an element each), one
    # fp32 step counter per parameter tensor, and the BN buffers (running stats, counter)
    static = (4 * 4 * sum(p.numel() for p in params) + 4 * len(params)
              + sum(b.numel() * b.element_size() for b in net.buffers()))
    out = tmp_path / "plan.json"
    code, _o, err = run(BASE + ["--budget", f"{static - 1}B", "--plan", "--save-plan",
                                str(out)], capsys)
    one_error(code, err, "alone need: ")
    assert f"({static:,} bytes)" in err
    assert not out.exists()


def test_budget_equal_to_a_batch_peak_fits(net, answer):
    """A batch whose peak equals the budget fits (<=, not <): --fit set to the exact peak of
    the largest batch with every candidate wrapped, and no reserve, gives that batch."""
    b = answer[1]["largest_batch"]
    exact = peak(net, FIT_BLOCKS, b)
    rows = cli_json([*MEMORY, "--input", "3x16x16", "--fit", f"{exact}B", "--reserve",
                     "0", "--checkpoint", "auto", "--format", "json"])["rows"]
    auto = [r for r in rows if r["checkpointing"] == "auto"][0]
    assert auto["largest_batch"] == b and auto["peak_bytes"] <= exact


@pytest.fixture(scope="module")
def lowest8(net):
    """The lowest peak (bytes) any plan reaches at batch 8: brute force over every plan."""
    return min(peak(net, c, 8) for c in SUBSETS)


def test_budget_equal_to_the_lowest_peak_fits(capsys, lowest8):
    code, out, err = run(BASE + ["--budget", f"{lowest8}B", "--plan", "--format", "json"],
                         capsys)
    assert code == 0, err
    assert json.loads(out)["peak_bytes"] == lowest8


def test_unreachable_budget_states_the_lowest_peak(capsys, tmp_path, lowest8):
    lowest = lowest8
    out = tmp_path / "plan.json"
    code, _o, err = run(BASE + ["--budget", f"{lowest - 1}B", "--plan", "--save-plan",
                                str(out)], capsys)
    one_error(code, err, "the lowest predicted peak reachable is")
    assert f"({lowest:,} bytes" in err
    assert not out.exists()


def test_auto_needs_fit(capsys):
    code, _o, err = run(BASE + ["--checkpoint", "auto"], capsys)
    one_error(code, err, "--checkpoint auto needs --fit SIZE")


@pytest.mark.parametrize("content, needle", [
    (None, "cannot read plan"),
    ('{"modules": ["block1", "block1"]}', "lists 'block1' more than once"),
    ('{"modules": ["block1", ""]}', "must be a list of module names"),
    ('{"format": "something else", "modules": ["block1"]}', "is not an inception-cost"),
    ('{"modules": ["block1", "pool.x"]}', "does not have: 'pool.x'"),
    ('{"modules": ["stem.0", "stem"]}', "nests 'stem.0' inside 'stem'"),
])
def test_bad_plan_files(capsys, tmp_path, content, needle):
    path = tmp_path / "p.json"
    if content is not None:
        path.write_text(content)
    target = tmp_path / "out.txt"
    code, _o, err = run(BASE + ["--checkpoint", str(path), "-o", str(target)], capsys)
    one_error(code, err, needle)
    assert not target.exists()


def test_fit_below_batch_1_with_every_candidate(capsys, net):
    """No batch fits even with every candidate checkpointed: one error line naming what
    batch 1 needs (not a table of zeros)."""
    need = peak(net, FIT_BLOCKS, 1)
    code, _o, err = run([*MEMORY, "--input", "3x16x16", "--fit", f"{need - 1}B",
                         "--reserve", "0", "--checkpoint", "auto"], capsys)
    one_error(code, err, "holds no training batch, even with every candidate")
    assert "batch 1 needs " in err and f" ({need:,} bytes)" in err
