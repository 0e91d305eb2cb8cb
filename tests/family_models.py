"""Tiny random-weight models of every family in longft's table, from transformers' own config classes,
and the packed batches the family tests run them on."""
from __future__ import annotations

import copy

import torch

from longft.data.collator import PackedCollator
from longft.families import FAMILIES, config_class
from longft.models import loadable_attention

VOCAB = 128
# Four documents, two packs of 32 tokens: longer than the stand-ins' sliding window (8 tokens), and
# multiples of S²-Attn's fixed group (4) so that each also runs alone under S²-Attn.
DOCS = [list(range(3, 15)), list(range(20, 40)), list(range(50, 58)), list(range(60, 76))]
SEQ_LEN = 32


def tiny_config(model_type: str, layers: int = 4, window: int = 64, **fields):
    values = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=window,
                  pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    values.update(FAMILIES[model_type].standin)
    values.update(fields)
    return config_class(model_type)(**values)


def tiny_model(model_type: str, config=None, seed: int = 0, attn: str | None = None):
    """The family's model with random weights (seeded), in eval mode; `attn` switches it once built."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(config) if config is not None else tiny_config(model_type)  # a model owns its config
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=loadable_attention(config, "sdpa"))
    with torch.no_grad():  # some families start norms at zero or outputs tiny: make every weight matter
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    if attn:
        model.set_attn_implementation(attn)
    return model.eval()


def packed_batch():
    packs = [{"input_ids": DOCS[0] + DOCS[1], "doc_lens": [12, 20]}, {"input_ids": DOCS[2] + DOCS[3], "doc_lens": [8, 16]}]
    return PackedCollator(SEQ_LEN, pad_token_id=0)(packs)


def per_document_loss(model) -> float:
    """The token-weighted loss of the documents run one by one, each a batch of its own."""
    total, count = 0.0, 0
    for doc in DOCS:
        ids = torch.tensor([doc])
        loss = model(input_ids=ids, labels=ids, position_ids=torch.arange(len(doc))[None]).loss
        total += loss.item() * (len(doc) - 1)
        count += len(doc) - 1
    return total / count
