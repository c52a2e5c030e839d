"""The device catalog: datasheet values (dense only), name matching, user device files,
and where PyTorch's table (torch/_inductor/analysis/device_info.py) disagrees and why."""
from __future__ import annotations

import json

import pytest
import torch
from torch._inductor.analysis import device_info as torch_devices

from inception_cost.errors import UsageError
from inception_cost.timing_model.devices import catalog, find_device, load_device_file
from tests.micro import run

REQUIRED = ["V100", "T4", "L4", "A10", "A100 40GB", "A100 80GB", "H100 SXM", "H100 PCIe",
            "H200", "RTX 3090", "RTX 4090"]


def test_catalog_has_every_required_device_with_a_source():
    for name in REQUIRED:
        d = find_device(name)
        assert "fp32" in d.peaks_tflops and d.bandwidth_gbs > 0 and d.memory_gb > 0
        assert "http" in d.source
    assert len({d.name for d in catalog()}) == len(catalog())


# Datasheet figures marked "with sparsity" (2:4 structured), typed from the datasheets cited
# in devices.json; the dense rate is half.
SPARSE_DATASHEET = {
    "H100 SXM": {"tf32": 989, "bf16": 1979, "fp16": 1979},
    "H100 PCIe": {"tf32": 756, "bf16": 1513, "fp16": 1513},
    "H200": {"tf32": 989, "bf16": 1979, "fp16": 1979},
    "L4": {"tf32": 120, "bf16": 242, "fp16": 242},
}


@pytest.mark.parametrize("name", sorted(SPARSE_DATASHEET))
def test_sparse_figures_are_never_used_as_dense(name):
    d = find_device(name)
    for mode, sparse in SPARSE_DATASHEET[name].items():
        assert d.peaks_tflops[mode] == sparse / 2


def test_geforce_half_precision_is_the_fp32_accumulate_rate():
    # GA102/AD102 whitepapers: FP16 tensor with FP16 accumulate 142 / 330.3 dense, half that
    # with FP32 accumulate (what autocast uses)
    assert find_device("RTX 3090").peaks_tflops["fp16"] == 142 / 2
    # (the whitepaper prints 165.2 for 330.3 / 2, rounded to one decimal)
    assert abs(find_device("RTX 4090").peaks_tflops["fp16"] - 330.3 / 2) <= 0.05


def test_modes_a_device_lacks_are_absent():
    with pytest.raises(UsageError, match="no bf16 peak"):
        find_device("V100").peak("bf16")
    with pytest.raises(UsageError, match="no tf32 peak"):
        find_device("T4").peak("tf32")


# torch's name -> ours, and every disagreement with its reason
PAIRS = {"NVIDIA H100": "H100 SXM", "NVIDIA A100": "A100 SXM 80GB", "NVIDIA L4": "L4"}
EXPECTED_DISAGREEMENTS = {
    ("NVIDIA H100", "fp32"): "its sparsity factor 2 also halves the FP32 pipe, which has no sparse mode",
    ("NVIDIA A100", "fp16"): "312.5 vs the datasheet's 312",
    ("NVIDIA A100", "bf16"): "312.5 vs the datasheet's 312",
    ("NVIDIA L4", "tf32"): "120 is the datasheet's sparse figure, with no sparsity factor",
    ("NVIDIA L4", "fp16"): "242 is the datasheet's sparse figure, with no sparsity factor",
    ("NVIDIA L4", "bf16"): "242 is the datasheet's sparse figure, with no sparsity factor",
    ("NVIDIA L4", "bandwidth"): "3350 GB/s is the H100's; the L4 datasheet says 300 GB/s",
}
_DTYPES = {"fp32": (torch.float32, False), "tf32": (torch.float32, True),
           "fp16": (torch.float16, False), "bf16": (torch.bfloat16, False)}


def test_where_pytorch_table_disagrees():
    found = {}
    for theirs, ours in PAIRS.items():
        d = find_device(ours)
        for mode, (dtype, tf32) in _DTYPES.items():
            t = torch_devices.datasheet_tops(dtype, is_tf32=tf32, device_name=theirs)
            if t != d.peaks_tflops.get(mode):
                found[(theirs, mode)] = (t, d.peaks_tflops.get(mode))
        bw = torch_devices.datasheet_dram_bw_gbs(theirs)
        if bw != d.bandwidth_gbs:
            found[(theirs, "bandwidth")] = (bw, d.bandwidth_gbs)
    assert set(found) == set(EXPECTED_DISAGREEMENTS), found
    assert found[("NVIDIA H100", "fp32")] == (33.5, 67.0)
    assert found[("NVIDIA L4", "bandwidth")] == (3350, 300.0)
    assert found[("NVIDIA L4", "bf16")] == (242.0, 121.0)
    # the raw H100 table holds the sparse 1979; its factor of 2 brings BF16 to the dense 989.5
    raw = torch_devices.lookup_device_info("NVIDIA H100")
    assert raw.tops[torch.bfloat16] == 1979.0 and raw.tops_sparsity_factor == 2


@pytest.mark.parametrize("spelling,name", [("rtx 4090", "RTX 4090"), ("RTX-4090", "RTX 4090"),
                                           ("a100-40gb", "A100 SXM 40GB"), ("h100_sxm", "H100 SXM"),
                                           ("A100", "A100 SXM 80GB"), ("h200", "H200 SXM")])
def test_names_ignore_case_spaces_dashes(spelling, name):
    assert find_device(spelling).name == name


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UsageError, match="did you mean 'RTX 4090'"):
        find_device("rtx4080")


def test_user_device_files(tmp_path):
    j = tmp_path / "mine.json"
    j.write_text(json.dumps({"name": "My GPU", "peaks_tflops": {"fp32": 20, "bf16": 160},
                             "bandwidth_gbs": 800, "memory_gb": 16, "source": "vendor"}))
    d = find_device(str(j))
    assert (d.name, d.peak("bf16"), d.bandwidth_gbs) == ("My GPU", 160.0, 800.0)
    t = tmp_path / "mine.toml"
    t.write_text('name = "Tom"\nbandwidth_gbs = 100\n[peaks_tflops]\nfp32 = 1.5\n')
    assert find_device(str(t)).peak("fp32") == 1.5


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    ('{"hello": 1}', "not a device file"),
    ('[1, 2]', "not a device file"),
    ('{"name": "x", "peaks_tflops": {"fp32": 0}, "bandwidth_gbs": 1}', "positive"),
    ('{"name": "x", "peaks_tflops": {"fp32": 1}, "bandwidth_gbs": -5}', "positive"),
    ('{"name": "x", "peaks_tflops": {"fp64": 1}, "bandwidth_gbs": 5}', "unknown mode"),
])
def test_damaged_device_files(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(UsageError, match=match):
        load_device_file(str(p))


def test_devices_cli_fits_100_columns(capsys):
    code, out, err = run(["devices"], capsys)
    assert code == 0 and "H100 SXM" in out and "989.5" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    code, out, err = run(["devices", "H10"], capsys)
    assert code == 2 and err.startswith("error: unknown device 'H10'") and len(err.splitlines()) == 1
