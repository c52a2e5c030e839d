"""CS231n's VGG16 memory claims, audited by liveness: numbers derived by hand from the
layer shapes (fp32 = 4 bytes; max-pool indices are int64 = 8 bytes)."""
import pytest

from inception_cost.papers.case_studies import cases_report
from inception_cost.papers.vgg_memory import early_late_rows, vgg16_memory_rows

CONV = 224**2 * 64 * 2 + 112**2 * 128 * 2 + 56**2 * 256 * 3 + 28**2 * 512 * 3 + 14**2 * 512 * 3
POOL = 112**2 * 64 + 56**2 * 128 + 28**2 * 256 + 14**2 * 512 + 7**2 * 512
FC = 4096 + 4096 + 1000
INPUT = 3 * 224 * 224
ADAPTIVE = 512 * 7 * 7          # torchvision's AdaptiveAvgPool2d(7): a copy at 224
PARAMS = 138_357_544            # torchvision's VGG16 (the zoo's description)


@pytest.fixture(scope="module")
def rows():
    return vgg16_memory_rows()


def test_sum_of_activations_per_image(rows):
    table, _ = rows
    got = {(r["batch"], r["figure"].split(" (")[0]): r["bytes"] for r in table}
    per_image = 4 * (CONV + POOL + FC + INPUT + ADAPTIVE) + 8 * POOL
    assert per_image == 73_293_728
    assert got[(1, "sum of activations")] == per_image
    assert got[(64, "sum of activations")] == 64 * per_image


def test_inference_peak_by_liveness(rows):
    _, reports = rows
    inf, _train = reports[1]
    # After conv1_2: the input, conv1_1's output (conv1_2's input) and conv1_2's output.
    assert inf.parameter_bytes == 4 * PARAMS
    assert inf.peak_bytes == 4 * PARAMS + 4 * (INPUT + 2 * 224**2 * 64)
    assert inf.peak_bytes - inf.parameter_bytes < 0.4 * inf.activation_sum_bytes
    inf64, _ = reports[64]
    assert inf64.peak_bytes == 4 * PARAMS + 64 * 4 * (INPUT + 2 * 224**2 * 64)


def test_training_peak_holds_params_grads_and_adam_state(rows):
    _, reports = rows
    _inf, train = reports[1]
    n_tensors = 32  # 13 convs + 3 linears, weight and bias each
    assert train.breakdown["parameters"] == 4 * PARAMS
    assert train.breakdown["optimizer_state"] == 2 * 4 * PARAMS + 4 * n_tensors
    assert train.peak_bytes > 4 * 4 * PARAMS


def test_early_late_claim_layer_by_layer(rows):
    _, reports = rows
    layers, s = early_late_rows(reports[1][0])
    early = 4 * (224**2 * 64 * 2 + 112**2 * 128 * 2) + 12 * (112**2 * 64 + 56**2 * 128)
    assert s["early_act"] == early
    assert s["early_act"] / s["act_total"] > 0.5
    fc_params = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert s["fc_par"] == fc_params and s["par_total"] == PARAMS
    assert s["fc_par"] / s["par_total"] > 0.5


def test_cases_report_carries_the_memory_sections():
    rep = cases_report()
    assert len(rep.section("vgg16_memory").df) == 8
    layers = rep.section("vgg16_memory_layers")
    assert len(layers.df) == 21 and layers.notes[0].startswith("✓")
    assert not rep.findings_of(kind="claim_mismatch")
