"""log-n attention scaling (Chiang & Cholak 2022; Su 2021): the logits of the query at position n
are multiplied by max(1, log n / log L), L the length trained on, so attention keeps its
sharpness when a query sees more keys than it was trained with. Usable zero-shot (on the base
model) and in training; causal and document-isolated like full attention.

An exported checkpoint records it in its config (`longft_attention`); longft's loaders switch it
back on. Plain transformers without longft runs such a checkpoint with ordinary (unscaled) SDPA.
"""
from __future__ import annotations

from ...errors import RecipeError
from ...attention.masked import attend, mask_unless_causal, logn_factor, no_mask, query_positions

NAME = "longft_logn"


def make_logn_attention(base: int):
    def logn_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        B, H, q_len, _ = query.shape
        kv_len = key.shape[2]
        allowed = mask_unless_causal(B, q_len, kv_len, query.device, kwargs)
        scale = logn_factor(query_positions(kwargs, B, q_len, kv_len, query.device), base)
        return attend(query, key, value, allowed, scaling, scale, kwargs.get("softcap")), None

    return logn_attention


def validate(attention, seq_len: int, window: int | None) -> None:
    unknown = set(attention.params) - {"base"}
    if unknown:
        raise RecipeError(f"attention.params has {sorted(unknown)}: log-n takes ['base'] (the trained length L)")
    base = attention.params.get("base", window)
    if base is None:
        raise RecipeError("attention.method 'logn' needs the trained length L: set attention.params.base or "
                          "position.original_max_position_embeddings")
    if not isinstance(base, int) or base < 2:
        raise RecipeError(f"attention.params.base = {base!r}: the trained length L is an integer >= 2")


def settings(attention, window: int | None) -> dict:
    return {"method": "logn", "base": attention.params.get("base", window)}


def register(saved: dict) -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, make_logn_attention(int(saved["base"])))
    AttentionMaskInterface.register(NAME, no_mask)
    return NAME
