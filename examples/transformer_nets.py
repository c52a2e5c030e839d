"""HuggingFace ``transformers`` models built from a config (no download, no weights).

    inception-cost layers examples/transformer_nets.py:bert_tiny --depth 1 --device cpu
    inception-cost layers examples/transformer_nets.py:bert_base --input input_ids=1x128:int64:0..30522 --depth 0
    inception-cost layers examples/transformer_nets.py:gpt2 --input input_ids=1x64:int64:0..50257 --depth 0
    inception-cost train examples/transformer_nets.py:bert_tiny --device cpu --optimizer adamw
    inception-cost train examples/transformer_nets.py:gpt2 --input input_ids=1x16:int64:0..50257 --depth 1

Each factory returns ``(model, example_inputs)``: the example is the call made when
no ``--input`` is given (``input_ids`` and an all-ones ``attention_mask``, batch 1).
transformers 5.x reads the attention mask's values in the forward (it checks whether
the mask masks anything), which the meta device cannot do: with the example's mask
these models need ``--device cpu``; given only ``--input input_ids=...`` they count on
meta. The widths are those of the published configs (BERT-base: hidden 768, 12
layers, 12 heads, FFN 3072, vocabulary 30522; GPT-2 small: 768, 12, 12, 3072, 50257;
BERT-tiny: 128, 2, 2, 512). Needs ``pip install transformers``.
"""
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel


def _example(seq: int) -> dict:
    """input_ids (all token 0) and an all-ones attention mask, batch 1 x ``seq`` tokens."""
    return {"input_ids": torch.zeros(1, seq, dtype=torch.long),
            "attention_mask": torch.ones(1, seq, dtype=torch.long)}


def bert_tiny():
    """BERT with 2 layers, hidden 128, 2 heads, FFN 512 (the size of Google's BERT-tiny)."""
    cfg = BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=512)
    return BertModel(cfg).eval(), _example(128)


def bert_base():
    """BERT-base (uncased) dimensions: BertConfig's defaults."""
    return BertModel(BertConfig()).eval(), _example(128)


def gpt2():
    """GPT-2 small with its language-model head: GPT2Config's defaults."""
    return GPT2LMHeadModel(GPT2Config()).eval(), _example(64)
