"""A model name goes through the public entries (``inception_cost.memory``, ``fit_batch``,
``analyse_step``, ``checkpoint_plan``: ``inception_cost/by_name.py``); the memory analysis
and the planner underneath take an ``nn.Module`` and refuse a name in one line.

The expected byte counts are ``4 x sum(p.numel())`` (fp32) of the modules
``resolve_training_model`` / ``resolve_model`` build: with GoogLeNet's two training-only
auxiliary heads for a training step, without them for inference.
"""
from __future__ import annotations

import pytest

import inception_cost
from inception_cost.checkpointing import planner
from inception_cost.errors import UsageError
from inception_cost.memory_analysis import analyse_step, fit_batch, memory
from inception_cost.models.resolve import resolve_model, resolve_training_model


def fp32_bytes(module) -> int:
    return 4 * sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def googlenet_bytes() -> dict[str, int]:
    """Parameter bytes of GoogLeNet built for training (aux heads) and for inference."""
    out = {"training": fp32_bytes(resolve_training_model("googlenet")[0]),
           "inference": fp32_bytes(resolve_model("googlenet")[0])}
    assert out["training"] > out["inference"]      # the aux heads hold parameters
    return out


@pytest.mark.parametrize("measure, args, public", [
    (memory, (), "memory"),
    (fit_batch, ("16GiB",), "fit_batch"),
    (analyse_step, (), "analyse_step"),
    (planner.checkpoint_plan, (), "checkpoint_plan"),
])
def test_the_analysis_takes_a_module_and_refuses_a_name_in_one_line(measure, args, public):
    kwargs = {"budget": "16GiB"} if measure is planner.checkpoint_plan else {}
    with pytest.raises(UsageError) as caught:
        measure("googlenet", *args, **kwargs)
    text = str(caught.value)
    assert caught.value.exit_code == 2 and "\n" not in text
    assert text.startswith("model must be an nn.Module, got the name 'googlenet'")
    assert f"inception_cost.{public}('googlenet', ...)" in text


def test_public_memory_of_a_name_for_training_builds_the_aux_heads(googlenet_bytes):
    report = inception_cost.memory("googlenet", training=True, optimizer="none", batch=2)
    assert report.parameter_bytes == googlenet_bytes["training"]
    assert report.model == "googlenet"
    assert report.input_size == (3, 224, 224)     # GoogLeNet's input (Szegedy et al., Table 1)


def test_public_memory_of_a_name_for_inference_has_no_aux_heads(googlenet_bytes):
    report = inception_cost.memory("googlenet")
    assert report.parameter_bytes == googlenet_bytes["inference"]
    assert (report.batch, report.input_size) == (1, (3, 224, 224))


def test_public_memory_of_a_spec_takes_the_spec_s_default_input(tmp_path):
    """A factory returning (model, example input): the default input is the example's
    C x H x W (the module itself carries none, so the analysis alone would use 224 x 224)."""
    path = tmp_path / "tiny_factory.py"
    path.write_text("import torch, torch.nn as nn\n"
                    "def net():\n"
                    "    return nn.Conv2d(3, 5, 3), torch.zeros(1, 3, 10, 12)\n")
    report = inception_cost.memory(f"{path}:net")
    assert report.input_size == (3, 10, 12)
    assert report.parameter_bytes == 4 * (5 * 3 * 3 * 3 + 5)    # weight + bias, fp32


def test_public_fit_batch_and_analyse_step_of_a_name(googlenet_bytes):
    fit = inception_cost.fit_batch("googlenet", "1MiB", training=True, optimizer="none",
                                   reserve=0)
    assert (fit.batch, fit.static_bytes) == (0, googlenet_bytes["training"])
    step = inception_cost.analyse_step("googlenet", batch=2, optimizer="none")
    assert step.memory.parameter_bytes == googlenet_bytes["training"]
    assert step.training.model_name == step.memory.model == "googlenet"


def test_public_checkpoint_plan_of_a_name_plans_the_training_build(googlenet_bytes):
    """A plan is for a training step: the name is built with its training-only auxiliary
    heads, as the CLI's ``memory --plan`` builds it.  Plain SGD keeps no state: what the
    planner cannot free is the parameters and, at the optimizer step, one gradient per
    parameter, 2 x the parameter bytes."""
    static = 2 * googlenet_bytes["training"]
    with pytest.raises(UsageError, match=f"alone need: .* \\({static:,} bytes\\)"):
        inception_cost.checkpoint_plan("googlenet", budget=1, optimizer="sgd")


def test_public_entries_refuse_what_is_neither_a_module_nor_a_name():
    with pytest.raises(UsageError, match="model must be an nn.Module or a model name, got int"):
        inception_cost.memory(3)
