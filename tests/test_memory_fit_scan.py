"""``--fit`` / ``fit_batch`` against answers found outside the search: a brute-force linear
scan over batches, hand arithmetic on a model whose peak is affine in the batch, and
PyTorch's MemTracker on a training step written in the test; budgets equal to a peak
exactly included (a batch whose peak equals the budget fits)."""
import json
import textwrap

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings, strategies as st

from inception_cost.memory_analysis import fit_batch
from inception_cost.memory_analysis.fit import largest_batch
from inception_cost.memory_analysis.sizes import parse_size
from micro import run

pytest.importorskip("torch.distributed._tools.mem_tracker")
from memtracker_step import reference_step  # noqa: E402


def scan(peaks: list[int], budget: int) -> int:
    """Largest n (1-based) with peaks[n-1] <= budget, by looking at every batch; 0 if none."""
    best = 0
    for n, p in enumerate(peaks, start=1):
        if p <= budget:
            best = n
    return best


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=300), st.integers(1, 100),
       st.data())
def test_search_equals_linear_scan(steps, base, data):
    """Any non-decreasing peak curve (plateaus, jumps, curvature): the search answers what
    a scan over every batch answers, for budgets equal to a peak, one byte either side,
    and arbitrary budgets."""
    peaks, total = [], base
    for s in steps:
        total += s
        peaks.append(total)
    i = data.draw(st.integers(0, len(peaks) - 1))
    budgets = [peaks[i], peaks[i] - 1, peaks[i] + 1,
               data.draw(st.integers(0, peaks[-1] + 10))]
    for budget in budgets:
        if budget >= peaks[-1]:          # the scan only knows batches up to len(peaks)
            continue
        got, _ = largest_batch(lambda n: peaks[n - 1] if n <= len(peaks) else
                               peaks[-1] + (n - len(peaks)) * 1000, budget, 10**6)
        assert got == scan(peaks, budget), (budget, peaks[:got + 2])


def _chain():
    with torch.device("meta"):
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False),
                             nn.Conv2d(8, 32, 3, padding=1, bias=False),
                             nn.Conv2d(32, 4, 3, padding=1, bias=False))


# 1x16x16 input, fp32: parameters (8*9 + 32*8*9 + 4*32*9) * 4 = 14,112 B; the inference
# peak (during the second conv) keeps x, a1, a2 alive: (1 + 8 + 32) * 256 * 4 = 41,984 B
# per image.  peak(n) = 14,112 + 41,984 n.
PARAMS, PER_IMAGE = 14_112, 41_984


@pytest.mark.parametrize("n", [1, 2, 7, 64, 1000])
def test_budget_exactly_a_peak_fits_and_one_byte_less_does_not(n):
    exact = fit_batch(_chain(), PARAMS + n * PER_IMAGE, (1, 16, 16), reserve=0)
    assert (exact.batch, exact.peak_bytes) == (n, PARAMS + n * PER_IMAGE)
    assert exact.next_peak_bytes == PARAMS + (n + 1) * PER_IMAGE
    below = fit_batch(_chain(), PARAMS + n * PER_IMAGE - 1, (1, 16, 16), reserve=0)
    assert below.batch == n - 1


def test_budget_of_the_parameters_alone_is_batch_0_not_an_error():
    r = fit_batch(_chain(), PARAMS, (1, 16, 16), reserve=0)
    assert (r.batch, r.next_peak_bytes) == (0, PARAMS + PER_IMAGE)


MLP_FILE = textwrap.dedent('''
    import torch.nn as nn

    def mlp():
        return nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))
''')


@pytest.fixture(scope="module")
def mlp_spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "tiny_mlp.py"
    path.write_text(MLP_FILE)
    return f"{path}:mlp"


def _mlp():
    with torch.device("meta"):
        return nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture(scope="module")
def mt_peaks():
    """MemTracker's peak at batches 1..12: inference, and a training step (SGD, steady
    state)."""
    return {mode: [reference_step(_mlp(), (3, 4, 4), n, training=mode == "training",
                                  optimizer="sgd")["Total"] for n in range(1, 13)]
            for mode in ("inference", "training")}


def test_cli_fit_equals_memtracker_scan(capsys, mlp_spec, mt_peaks):
    """``memory --fit`` (both rows: inference, and training with sgd) against a scan of
    MemTracker's peaks over batches 1..12, with budgets equal to a peak exactly and one
    byte either side."""
    for mode, peaks in mt_peaks.items():
        assert peaks == sorted(peaks) and len(set(peaks)) == len(peaks)
    budgets = [p[i] + d for p in mt_peaks.values() for i, d in ((0, 0), (4, 0), (4, -1),
                                                                 (10, 0), (10, 1))]
    checked = 0
    for budget in budgets:
        rc, out, err = run(["memory", mlp_spec, "--input", "3x4x4", "--optimizer", "sgd",
                            "--fit", str(budget), "--reserve", "0", "--format", "json"], capsys)
        assert rc == 0, err
        rows = json.loads(out)["rows"]
        assert [r["mode"] for r in rows] == ["inference", "training"]
        for row in rows:
            peaks = mt_peaks[row["mode"]]
            want = scan(peaks, budget)
            if not 0 < want < len(peaks):        # beyond the scanned batches
                continue
            checked += 1
            assert row["largest_batch"] == want, (budget, row)
            assert row["peak_bytes"] == peaks[want - 1]
            assert row["peak_bytes_at_batch_plus_1"] == peaks[want]
    assert checked >= len(budgets)


def test_cli_budget_of_the_parameters_alone_is_batch_0_and_one_byte_less_an_error(
        capsys, mlp_spec):
    """``memory --fit``: a budget equal to the parameters' bytes (hand: 7,592 B) is not
    "smaller than the model" (inference batch 0); one byte less is, in every mode."""
    params = (48 * 32 + 32 + 32 * 10 + 10) * 4
    rc, out, err = run(["memory", mlp_spec, "--input", "3x4x4", "--fit", f"{params}B",
                        "--reserve", "0", "--format", "json"], capsys)
    assert rc == 0, err
    rows = {r["mode"]: r for r in json.loads(out)["rows"]}
    assert rows["inference"]["largest_batch"] == 0
    rc, out, err = run(["memory", mlp_spec, "--input", "3x4x4", "--fit", f"{params - 1}B",
                        "--reserve", "0"], capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error:") and "7.41 KiB (inference)" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_budget_past_the_largest_analysable_batch_names_that_batch(capsys, mlp_spec):
    """The search's only bound: the largest batch whose 3x4x4 fp32 input (192 B an image)
    fits in 2^63 - 1 bytes. A budget beyond every such batch's peak is one error line
    naming that batch and the next, not a wrong answer or a traceback."""
    limit = (2**63 - 1) // (3 * 4 * 4 * 4)
    rc, out, err = run(["memory", mlp_spec, "--input", "3x4x4", "--fit", "1" + "0" * 28 + "B",
                        "--reserve", "0"], capsys)
    assert rc == 2 and out == "", err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert f"batch {limit:,} fits" in err and f"batch {limit + 1:,} cannot be analysed" in err


def test_cli_json_peak_and_breakdown_equal_memtracker(capsys, mlp_spec):
    """The JSON report's peak and categories against MemTracker on the same step."""
    rc, out, err = run(["memory", mlp_spec, "--input", "3x4x4", "--train", "--batch", "5",
                        "--optimizer", "adam", "--format", "json"], capsys)
    assert rc == 0, err
    data = json.loads(out)
    ref = reference_step(_mlp(), (3, 4, 4), 5, training=True, optimizer="adam")
    assert data["peak_bytes"] == ref["Total"]
    params = (48 * 32 + 32 + 32 * 10 + 10) * 4                       # hand: 7,592 B
    assert data["parameter_bytes"] == ref["Parameter"] == params
    # Adam's steady state: two fp32 moments per element + a 4-byte step per tensor (4)
    assert data["breakdown"]["optimizer_state"] == 2 * params + 4 * 4


def test_bare_unit_letters_are_binary_and_b_suffixed_are_decimal():
    assert parse_size("8G") == 8 * 2**30
    assert parse_size("8g") == 8 * 2**30
    assert parse_size("8GiB") == 8 * 2**30
    assert parse_size("8GB") == 8 * 10**9
    assert parse_size("3M") == 3 * 2**20 and parse_size("3MB") == 3 * 10**6
    assert parse_size("2T") == 2 * 2**40 and parse_size("2TB") == 2 * 10**12
    assert parse_size("4096") == 4096


def test_fractional_sizes_are_exact():
    assert parse_size("8.2GB") == 8_200_000_000
    assert parse_size("0.3KB") == 300
