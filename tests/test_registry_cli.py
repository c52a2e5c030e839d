"""The variant registry and `inception-cost variants`, plus missing optional packages."""
import builtins
import json

import pytest

import inception_cost
from inception_cost.cli import main
from inception_cost.errors import UsageError


def test_registry_lists_every_family_with_defaults():
    names = {v.name for v in inception_cost.variants()}
    assert {"inception_naive", "inception_reduced", "googlenet", "googlenet_torchvision",
            "bn_inception", "inception_v2", "inception_v3", "inception_v4", "inception_resnet_v1",
            "inception_resnet_v2", "alexnet", "vgg16", "resnet50"} <= names
    for v in inception_cost.variants():
        assert v.description and v.source and len(v.input_size) == 3


def test_build_is_eval_and_rejects_unknown_options():
    m = inception_cost.build("googlenet")
    assert not m.training
    assert next(m.parameters()).is_meta
    with pytest.raises(UsageError, match="no option"):
        inception_cost.build("googlenet", widht=3)
    with pytest.raises(UsageError, match="did you mean googlenet"):
        inception_cost.build("googlenett")


def test_variants_cli_json(capsys):
    assert main(["variants", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    g = next(r for r in rows if r["name"] == "inception_v3")
    assert g["input (CxHxW)"] == "3x299x299"


@pytest.mark.parametrize("spec,pkg", [("torchvision:googlenet", "torchvision"), ("timm:inception_v4", "timm")])
def test_missing_optional_package_is_one_line(spec, pkg, capsys, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == pkg or name.startswith(pkg + "."):
            raise ImportError(f"No module named '{pkg}'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    code = main(["layers", spec])
    err = capsys.readouterr().err
    assert code == 2 and f"{pkg} is not installed" in err and len(err.strip().splitlines()) == 1
