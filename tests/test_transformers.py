"""HuggingFace transformers models built from a config (never a download), counted.

BERT-base and GPT-2 small at their published widths (hidden h = 768, 12 heads, FFN
3072; vocabularies 30522 and 50257), batch 1, s = 16 tokens. Their MACs are derived
by hand below, and checked against PyTorch's ``FlopCounterMode`` (FLOPs / 2) run on
CPU tensors.

The project's MACs are the multiply-accumulates of linear layers and matmuls, bias
excluded (``inception_cost.counting.formulas``); softmax, layer norm, GELU, tanh,
adds and the attention scale are FLOPs only (softmax 3 per element, layer norm 7
per element, one per element for the others, one per output element for a bias),
and embedding lookups are data movement (0). So the MACs of one encoder/decoder
layer at s tokens are

    Q, K, V and output projections   4 * s * h * h
    scores Q K^T (all heads)         s * s * h
    context A V (all heads)          s * s * h
    FFN up and down                  2 * s * h * 4h

plus BERT's pooler (one h x h linear on the first token) or GPT-2's LM head
(s * h * vocab). The meta device counts the full 12-layer models (no weights);
the CPU cross-checks with FlopCounterMode use 2 layers at the real widths, so that
building real weights stays within this file's time budget.
"""
from __future__ import annotations

import os

import pytest
import torch

transformers = pytest.importorskip("transformers")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from inception_cost import count, memory  # noqa: E402
from inception_cost.cli import main  # noqa: E402
from inception_cost.counting.engine import ForwardError  # noqa: E402
from inception_cost.counting.training import count_training  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S, H, FFN, HEADS = 16, 768, 3072, 12
BERT_VOCAB, GPT2_VOCAB = 30522, 50257


def layer_macs(s: int, h: int, ffn: int) -> int:
    """One transformer layer, MACs: projections, attention scores and context, FFN."""
    projections = 4 * s * h * h
    scores = s * s * h          # heads x (s x h/heads) @ (h/heads x s)
    context = s * s * h         # heads x (s x s) @ (s x h/heads)
    feed_forward = s * h * ffn + s * ffn * h
    return projections + scores + context + feed_forward


def bert_macs(layers: int, s: int = S) -> int:
    return layers * layer_macs(s, H, FFN) + H * H          # + pooler on token 0


def gpt2_macs(layers: int, s: int = S) -> int:
    return layers * layer_macs(s, H, FFN) + s * H * GPT2_VOCAB   # + LM head (no bias)


def test_hand_arithmetic_spelled_out():
    # BERT-base, 16 tokens: one layer = 37,748,736 + 393,216 + 75,497,472
    assert layer_macs(16, 768, 3072) == 4 * 16 * 768**2 + 2 * 16**2 * 768 + 2 * 16 * 768 * 3072
    assert layer_macs(16, 768, 3072) == 113_639_424
    assert bert_macs(12) == 12 * 113_639_424 + 589_824 == 1_364_262_912
    assert gpt2_macs(12) == 12 * 113_639_424 + 617_558_016 == 1_981_231_104


def _bert(layers: int, impl: str = "eager", device: str = "meta"):
    cfg = transformers.BertConfig(num_hidden_layers=layers, attn_implementation=impl)
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size,
            cfg.vocab_size) == (H, HEADS, FFN, BERT_VOCAB)
    with torch.device(device):
        return transformers.BertModel(cfg).eval()


def _gpt2(layers: int, impl: str = "eager", device: str = "meta"):
    cfg = transformers.GPT2Config(n_layer=layers, attn_implementation=impl)
    assert (cfg.n_embd, cfg.n_head, cfg.vocab_size) == (H, HEADS, GPT2_VOCAB)
    assert cfg.n_inner is None   # the FFN is 4 x n_embd = 3072
    with torch.device(device):
        return transformers.GPT2LMHeadModel(cfg).eval()


def _ids(s: int = S, device: str = "meta") -> torch.Tensor:
    return torch.zeros(1, s, dtype=torch.long, device=device)


def _ids_mask() -> dict:
    return {"input_ids": _ids(device="cpu"), "attention_mask": torch.ones(1, S, dtype=torch.long)}


@pytest.fixture(scope="module")
def cpu_models():
    """BERT-base and GPT-2 widths, 2 layers, real weights on the CPU (built once)."""
    torch.manual_seed(0)
    return {"bert": _bert(2, device="cpu"), "gpt2": _gpt2(2, device="cpu")}


# ---------------------------------------------------------------- hand-checked counts
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_bert_base_macs_by_hand(impl):
    model = _bert(12, impl)
    report = count(model, inputs={"input_ids": _ids()})
    assert report.total_macs == bert_macs(12) == 1_364_262_912
    assert report.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_gpt2_macs_by_hand(impl):
    report = count(_gpt2(12, impl), inputs={"input_ids": _ids()})
    assert report.total_macs == gpt2_macs(12) == 1_981_231_104


def test_bert_base_flops_by_hand():
    """FLOPs of eager BERT-base (no attention mask given, so none is added):
    2 x MACs, one add per bias element, the embedding sum (2 adds) and layer
    norm (7 per element), the attention scale (1 per score) and softmax (3 per
    score), the two residual adds and two layer norms per layer, GELU (1 per
    element), and the pooler's bias and tanh."""
    s, h, f = S, H, FFN
    embeddings = 2 * s * h + 7 * s * h
    per_layer = (4 * s * h                      # Q, K, V, O biases
                 + HEADS * s * s * (1 + 3)      # scale, softmax
                 + 2 * (s * h + 7 * s * h)      # residual add + layer norm, twice
                 + s * f + s * f                # FFN up: bias, GELU
                 + s * h)                       # FFN down: bias
    pooler = h + h                              # bias, tanh
    want = 2 * bert_macs(12) + embeddings + 12 * per_layer + pooler
    assert count(_bert(12), inputs={"input_ids": _ids()}).total_flops == want


# ------------------------------------------------------- reference: FlopCounterMode
def _fcm_macs(model, inputs: dict) -> int:
    with FlopCounterMode(display=False) as fcm, torch.no_grad():
        model(**inputs)
    flops = fcm.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_cpu_count_equals_flop_counter_mode(cpu_models, name):
    model = cpu_models[name]
    want = {"bert": bert_macs, "gpt2": gpt2_macs}[name](2)
    model.set_attn_implementation("eager")
    assert count(model, inputs=_ids_mask(), device="cpu").total_macs == want
    assert _fcm_macs(model, _ids_mask()) == want


def test_sdpa_attention_is_the_part_flop_counter_mode_misses(cpu_models):
    """With SDPA, the CPU runs a fused attention kernel that FlopCounterMode has no
    formula for: its total misses exactly the scores and context, 2 x s^2 x h per
    layer; the meta count (and the CPU count) keep them."""
    model = cpu_models["bert"]
    model.set_attn_implementation("sdpa")
    try:
        ours = count(model, inputs=_ids_mask(), device="cpu").total_macs
        assert ours == bert_macs(2)
        assert _fcm_macs(model, _ids_mask()) == ours - 2 * (2 * S * S * H)
    finally:
        model.set_attn_implementation("eager")


# ------------------------------------------------ meta reads values -> device="cpu"
def _one_line_hint(err: str) -> None:
    assert "\n" not in err
    assert "reads tensor values" in err and 'device="cpu"' in err


def test_meta_mask_error_then_cpu_gives_the_same_counts(cpu_models):
    """transformers 5 checks the attention mask's values in the forward: on meta that
    is a ForwardError saying so in one line; device="cpu" counts. The same input on
    both devices gives the same MACs, FLOPs, params and activations; the all-ones
    mask adds no MAC,
    and FLOPs only for its check (a sum over its s elements and one compare)."""
    model = cpu_models["gpt2"]
    model.set_attn_implementation("sdpa")   # the default, whose mask builder checks values
    try:
        with pytest.raises(ForwardError) as e:
            count(model, inputs={"input_ids": _ids(), "attention_mask": _ids()})
        _one_line_hint(str(e.value))
        masked = count(model, inputs=_ids_mask(), device="cpu")
        cpu = count(model, inputs={"input_ids": _ids(device="cpu")}, device="cpu")
        meta = count(model, inputs={"input_ids": _ids()})
    finally:
        model.set_attn_implementation("eager")
    # activations too: meta's SDPA output has the fused CPU kernel's memory layout, so
    # the `.transpose(1, 2).contiguous()` after it copies nothing on either device
    assert (cpu.total_macs, cpu.total_flops, cpu.total_params, cpu.total_activations) == \
        (meta.total_macs, meta.total_flops, meta.total_params, meta.total_activations)
    assert meta.total_macs == gpt2_macs(2)
    assert masked.total_macs == meta.total_macs
    assert masked.total_flops == meta.total_flops + S + 1


def _tiny_bert(device="meta"):
    cfg = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=256, vocab_size=1000)
    with torch.device(device):
        return transformers.BertModel(cfg).eval()


def test_count_training_meta_error_and_cpu():
    model = _tiny_bert("cpu")
    ids = torch.randint(0, 1000, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    with pytest.raises(ForwardError) as e:
        count_training(model, inputs={"input_ids": ids, "attention_mask": mask})
    _one_line_hint(str(e.value))
    cpu = count_training(model, inputs={"input_ids": ids, "attention_mask": mask}, device="cpu")
    meta = count_training(model, inputs={"input_ids": ids})
    unmasked = count_training(model, inputs={"input_ids": ids}, device="cpu")
    assert unmasked.totals() == meta.totals()
    # the mask's value check (CPU only): not(mask) and its sum over B*S = 16 elements, the
    # compare and the not of that one scalar: 2 * 16 + 2 FLOPs, in the forward only
    check = 2 * (2 * 8) + 2
    want = dict(meta.totals(), fwd_flops=meta.totals()["fwd_flops"] + check,
                step_flops=meta.totals()["step_flops"] + check)
    counts = [c for c in want if not c.endswith("_bytes")]     # the check moves bytes too
    assert {c: cpu.totals()[c] for c in counts} == {c: want[c] for c in counts}
    # the forward part of the step, by hand: 2 layers at s=8, h=64, FFN 256, batch 2, + pooler
    assert cpu.layers["fwd_macs"].sum() == 2 * (2 * layer_macs(8, 64, 256)) + 2 * 64 * 64


def test_gpt2_training_step_forward_by_hand():
    """GPT-2's output holds a key/value cache besides the logits: the default loss takes
    the tensors (the logits) and the step counts on meta; its forward MACs are the hand
    count, and the LM head's weight gradient goes to the tied token embedding."""
    report = count_training(_gpt2(2), inputs={"input_ids": _ids()})
    assert report.layers["fwd_macs"].sum() == gpt2_macs(2)
    head = report.layers[report.layers["module"] == "lm_head"]
    assert int(head["bwd_input_macs"].sum()) == S * H * GPT2_VOCAB   # dL/dx = dL/dy W


@pytest.mark.parametrize("training", [True])
def test_memory_meta_error_and_cpu(training):
    """memory() tracks on meta: the mask check fails there, in one line naming
    device="cpu"; with the CPU target the step runs on real CPU tensors. Where meta
    works (no mask), the real CPU step gives the same bytes as the meta one. (Inference
    runs the same path: `memory --device cpu` in the CLI test below.)"""
    from inception_cost.memory_analysis.api import _config, analyse
    from inception_cost.memory_analysis.failures import ReadsValuesError
    model = _tiny_bert("cpu")
    ids = torch.randint(0, 1000, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    opt = "adam" if training else None
    with pytest.raises(ReadsValuesError) as e:
        memory(model, inputs={"input_ids": ids, "attention_mask": mask}, training=training,
               optimizer=opt)
    assert "\n" not in str(e.value) and "reads tensor values" in str(e.value)
    assert 'device="cpu"' in str(e.value) and "--device cpu" in str(e.value)
    cpu = memory(model, inputs={"input_ids": ids, "attention_mask": mask}, device="cpu",
                 training=training, optimizer=opt)
    weights = 4 * sum(p.numel() for p in model.parameters())
    assert cpu.parameter_bytes == weights
    if training:   # Adam: a gradient and two moments per parameter element (fp32)
        assert cpu.breakdown["gradients"] + cpu.breakdown["optimizer_state"] >= 3 * weights
    meta = memory(model, inputs={"input_ids": ids}, device="cpu", training=training,
                  optimizer=opt)
    from inception_cost.memory_analysis.step_config import input_templates
    n, temps = input_templates({"input_ids": ids})
    cfg = _config((), n, training, opt, "fp32", "steady", "cpu", None, True, temps)
    real = analyse(model, cfg, "bert", real=True)
    assert (real.peak_bytes, real.breakdown, real.ops) == (meta.peak_bytes, meta.breakdown,
                                                           meta.ops)


# ---------------------------------------------------------------------- the CLI
def _cli(args, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["layers", "train", "memory"])
def test_cli_meta_fails_in_one_line_then_device_cpu_works(command, monkeypatch, capsys):
    spec = "examples/transformer_nets.py:bert_tiny"
    code, out, err = _cli([command, spec], monkeypatch, capsys)
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "reads tensor values" in lines[0] and "--device cpu" in lines[0]
    code, out, err = _cli([command, spec, "--device", "cpu", "--format", "csv"],
                          monkeypatch, capsys)
    assert code == 0, err
    assert out.strip()


def test_cli_memory_fit_of_a_model_that_reads_values_is_one_error_line(monkeypatch, capsys):
    code, out, err = _cli(["memory", "examples/transformer_nets.py:bert_tiny", "--device", "cpu",
                           "--fit", "1GiB"], monkeypatch, capsys)
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "reads tensor values" in lines[0] and "--fit cannot search it" in lines[0]


def test_cli_bert_tiny_layers_total_by_hand(monkeypatch, capsys):
    """examples/transformer_nets.py:bert_tiny: 2 layers, h=128, FFN 512, 128 tokens."""
    code, out, err = _cli(["layers", "examples/transformer_nets.py:bert_tiny", "--device", "cpu",
                           "--depth", "0", "--format", "json"], monkeypatch, capsys)
    assert code == 0, err
    import json
    data = json.loads(out)
    assert data["totals"]["macs"] == 2 * layer_macs(128, 128, 512) + 128 * 128 == 58_736_640
