"""Window and hybrid window-full attention (Su 2023, "the window attention + log-n" experiments).

- `window`: every layer attends to the last `window` tokens only (itself included), with RoPE;
- `hybrid`: the first layers as `window`; the last `full_layers` attend to everything, with log-n
  scaling and without RoPE there (as Su found best): the rotation the model applied to the
  queries and keys is undone inside the attention function before scoring.
Causal and document-isolated; applies in training and at inference (the checkpoint records it in
`longft_attention`, and longft's loaders switch it back on).
"""
from __future__ import annotations

import torch

from ...errors import RecipeError
from ...attention.masked import allowed_pairs, attend, key_positions, logn_factor, mask_unless_causal, no_mask, query_positions
from ...attention.rope_angles import layer_rotary, rotate_back

NAME = "longft_window"


def unrotate(x: torch.Tensor, positions: torch.Tensor, config, layer_idx: int) -> torch.Tensor:
    """Undo RoPE: x (B, H, N, D) was rotated by angle p * inv_freq and scaled by the attention factor
    (on its rotary part; a layer without RoPE is left as it is)."""
    return rotate_back(x, positions[:, None].float(), layer_rotary(config, layer_idx, x.device), undo_factor=True)


def make_window_attention(window: int, full_layers: int = 0, logn_base: int | None = None):
    def window_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        B, H, q_len, _ = query.shape
        kv_len = key.shape[2]
        layers = module.config.num_hidden_layers
        is_full = module.layer_idx >= layers - full_layers
        if not is_full:
            return attend(query, key, value, allowed_pairs(B, q_len, kv_len, query.device, kwargs, window), scaling,
                          softcap=kwargs.get("softcap")), None
        q_pos = query_positions(kwargs, B, q_len, kv_len, query.device)
        k_pos = key_positions(kwargs, B, kv_len, query.device)
        query, key = (unrotate(x, p, module.config, module.layer_idx) for x, p in ((query, q_pos), (key, k_pos)))
        scale = logn_factor(q_pos, logn_base) if logn_base else None
        allowed = mask_unless_causal(B, q_len, kv_len, query.device, kwargs)
        return attend(query, key, value, allowed, scaling, scale, kwargs.get("softcap")), None

    return window_attention


def _check(attention, seq_len: int, keys: set) -> int:
    unknown = set(attention.params) - keys
    if unknown:
        raise RecipeError(f"attention.params has {sorted(unknown)}: {attention.method} takes {sorted(keys)}")
    w = attention.params.get("window")
    if not isinstance(w, int) or w < 1:
        raise RecipeError(f"attention.params.window = {w!r}: {attention.method} needs a window of w >= 1 tokens")
    if w > seq_len:
        raise RecipeError(
            f"attention.params.window = {w}: larger than the sequence (data.seq_len = {seq_len}); "
            f"use a window <= {seq_len}, or full attention"
        )
    return w


def validate_window(attention, seq_len: int, window: int | None) -> None:
    _check(attention, seq_len, {"window"})


def validate_hybrid(attention, seq_len: int, window: int | None) -> None:
    _check(attention, seq_len, {"window", "full_layers", "logn_base"})
    full = attention.params.get("full_layers", 1)
    if not isinstance(full, int) or full < 1:
        raise RecipeError(f"attention.params.full_layers = {full!r}: the hybrid needs >= 1 full layer at the end")
    if attention.params.get("logn_base", window) is None:
        raise RecipeError("attention.method 'hybrid' needs log-n's trained length: set attention.params.logn_base "
                          "or position.original_max_position_embeddings")


def settings_window(attention, window: int | None) -> dict:
    return {"method": "window", "window": attention.params["window"]}


def settings_hybrid(attention, window: int | None) -> dict:
    return {"method": "hybrid", "window": attention.params["window"], "full_layers": attention.params.get("full_layers", 1),
            "logn_base": attention.params.get("logn_base", window)}


def register(saved: dict) -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    fn = make_window_attention(int(saved["window"]), int(saved.get("full_layers", 0)), saved.get("logn_base"))
    AttentionInterface.register(NAME, fn)
    AttentionMaskInterface.register(NAME, no_mask)
    return NAME
