"""FoT memory attention (Focused Transformer / LongLLaMA, Tworkowski et al. 2023).

A few memory layers attend, in one softmax, to their local causal keys and to memory keys and
values from other context windows; every other layer is full attention over the local window.
Local queries and keys carry RoPE as usual; a memory key is encoded as if it stood at the start
of the local window (position 0), which is the key with its rotation turned back. So FoT adds no
weights, and a checkpoint stays an ordinary model for any window up to its own.

The memory reaches the function in one of two forms, both explicit in the forward's kwargs:
- training (cross-batch): `fot_memory_rows` (B, R) long, the earlier rows of the same batch each row
  sees (-1: none), and `fot_memory_valid` (B, N) bool, which tokens of a row are real (not padding).
  Memory keys and values are this forward's own, so gradients flow into them (methods/fot/layout.py
  builds both fields);
- inference: `fot_memory`, an object whose `get(layer_idx)` gives (keys at position 0, values) of
  the finished windows, or None (methods/fot/memory.py keeps it).
Without either, a memory layer is full attention: a checkpoint run by plain code behaves as one.
"""
from __future__ import annotations

import torch

from ...errors import RecipeError
from ...attention.full import make_full_attention, mask_or_none
from ...attention.masked import allowed_pairs, key_positions, scored_attention
from ...attention.rope_angles import layer_rotary, rotate_back
from ...attention.segments import repeat_kv

NAME = "longft_fot"
PARAMS = {"memory_layers", "window", "windows_per_stream", "cross_batch", "stepping", "last_context_length"}


def keys_at_start(key: torch.Tensor, positions: torch.Tensor, config, layer_idx: int) -> torch.Tensor:
    """key (B, H, N, D) of layer `layer_idx`, rotated at `positions` (B, N) -> the same keys as if each
    stood at position 0: RoPE at 0 is the identity times the rope type's attention factor, which the
    rotated key keeps. On a layer without RoPE a key is the same at every position."""
    rotary = layer_rotary(config, layer_idx, key.device)
    return rotate_back(key, positions[:, None].to(key.device).float(), rotary)


def cross_batch_memory(key, value, kwargs, config, layer_idx: int):
    """(keys (B, Hkv, R*N, D), values, allowed (B, R*N)) from the batch's own earlier rows."""
    rows = kwargs["fot_memory_rows"].to(key.device)
    B, Hkv, N, D = key.shape
    R = rows.shape[1]
    valid = kwargs.get("fot_memory_valid")
    valid = torch.ones(B, N, dtype=torch.bool, device=key.device) if valid is None else valid.to(key.device).bool()
    at_start = keys_at_start(key, key_positions(kwargs, B, N, key.device), config, layer_idx)
    pick = rows.clamp(min=0)
    mem_k = at_start[pick].permute(0, 2, 1, 3, 4).reshape(B, Hkv, R * N, D)  # (B, R, Hkv, N, D) -> rows side by side
    mem_v = value[pick].permute(0, 2, 1, 3, 4).reshape(B, Hkv, R * N, D)
    allowed = ((rows >= 0)[:, :, None] & valid[pick]).reshape(B, R * N)
    return mem_k, mem_v, allowed


def cached_memory(memory, layer_idx: int, batch: int, device):
    got = memory.get(layer_idx)
    if got is None:
        return None
    mem_k, mem_v = got
    return mem_k.to(device), mem_v.to(device), torch.ones(batch, mem_k.shape[2], dtype=torch.bool, device=device)


def memory_attention(query, key, value, kwargs, scaling, memory):
    """One softmax over [memory keys | local keys]; returns (B, N, H, D)."""
    B, H, q_len, _ = query.shape
    kv_len = key.shape[2]
    mem_k, mem_v, mem_allowed = memory
    local = allowed_pairs(B, q_len, kv_len, query.device, kwargs)  # causal, inside one document
    allowed = torch.cat([mem_allowed[:, None, None, :].expand(B, 1, q_len, -1), local], dim=-1)
    keys = repeat_kv(torch.cat([mem_k.to(key.dtype), key], dim=2), H)
    values = repeat_kv(torch.cat([mem_v.to(value.dtype), value], dim=2), H)
    out = scored_attention(query, keys, values, allowed, scaling, kwargs.get("softcap"))
    return out.transpose(1, 2).contiguous()


def make_fot_attention(memory_layers, path: str = "auto"):
    layers = frozenset(int(i) for i in memory_layers)
    local = make_full_attention(path)

    def fot_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        memory = None
        if module.layer_idx in layers:
            if kwargs.get("fot_memory_rows") is not None:
                memory = cross_batch_memory(key, value, kwargs, module.config, module.layer_idx)
            elif kwargs.get("fot_memory") is not None:
                memory = cached_memory(kwargs["fot_memory"], module.layer_idx, query.shape[0], query.device)
        if memory is None:
            return local(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
        return memory_attention(query, key, value, kwargs, scaling, memory), None

    return fot_attention


def default_last_context_length(window: int) -> int:
    """How much of a long input inference keeps local: LongLLaMA's default, 1024 of its 2048-token window."""
    return max(1, window // 2)


def last_context_length(params: dict, window: int):
    """The recipe's `last_context_length`, or the default for `window`."""
    return params.get("last_context_length", default_last_context_length(window))


def _whole(value, at_least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= at_least


def validate(attention, seq_len: int, window: int | None) -> None:
    """What the settings alone decide; the model and the batch are checked in `check_stage`."""
    p = attention.params
    unknown = set(p) - PARAMS
    if unknown:
        raise RecipeError(f"attention.params has {sorted(unknown)}: fot takes {sorted(PARAMS)}")
    layers = p.get("memory_layers")
    if not isinstance(layers, list) or not layers or not all(_whole(i, 0) for i in layers):
        raise RecipeError(f"attention.params.memory_layers = {layers!r}: a non-empty list of layer indices (0-based), "
                          "e.g. [2]")
    w = p.get("window")
    if not _whole(w, 1):
        raise RecipeError(f"attention.params.window = {w!r}: the local window, a whole number of tokens >= 1")
    k = p.get("windows_per_stream", 1)
    if not _whole(k, 1):
        raise RecipeError(f"attention.params.windows_per_stream = {k!r}: a whole number >= 1")
    if seq_len != w * k:
        raise RecipeError(
            f"data.seq_len = {seq_len}: fot trains streams of windows_per_stream x window = {k} x {w} = {w * k} "
            f"tokens; set data.seq_len to {w * k}"
        )
    last = last_context_length(p, w)
    if not _whole(last, 1) or last > w:
        raise RecipeError(f"attention.params.last_context_length = {last!r}: how many of a long input's last tokens "
                          f"inference keeps in the local window, a whole number from 1 to the window ({w})")
    d = p.get("cross_batch", 0)
    if not _whole(d, 0):
        raise RecipeError(f"attention.params.cross_batch = {d!r}: how many earlier rows a memory layer sees "
                          "(d - 1), a whole number >= 0")
    if not isinstance(p.get("stepping", False), bool):
        raise RecipeError(f"attention.params.stepping = {p.get('stepping')!r}: true or false")


def check_stage(attention, stage, config) -> None:
    """Against the model and the batch, before any work starts."""
    p = attention.params
    n_layers = config.num_hidden_layers
    outside = [i for i in p["memory_layers"] if i >= n_layers]
    if outside:
        raise RecipeError(f"attention.params.memory_layers has {outside}: the model has {n_layers} layers, "
                          f"indices 0..{n_layers - 1}")
    from ...positions.methods import POSITION_METHODS
    from ...positions.rope import original_window

    orig = original_window(config, stage.position)
    scales = POSITION_METHODS[stage.position.method].bounded_by_factor and stage.position.factor
    reach = int(orig * stage.position.factor) if scales else orig
    if p["window"] > reach:
        raise RecipeError(
            f"attention.params.window = {p['window']}: larger than the model's window ({reach} tokens"
            f"{f', {orig} x position.factor' if scales else ''}); FoT extends through memory, not the local window: "
            f"use a window <= {reach}, or a position method that covers it"
        )
    if stage.train.sequence_parallel > 1:
        raise RecipeError(
            f"train.sequence_parallel = {stage.train.sequence_parallel} with fot: FoT's rows are its local windows, "
            "short by design, and sequence parallelism would cut them (and the memory fields) across ranks; "
            "use data parallelism (train.sequence_parallel: 1)"
        )
    if stage.position.scheme != "document":
        raise RecipeError(f"position.scheme = {stage.position.scheme!r} with fot: memory keys sit at the start of a "
                          "local window whose positions run 0..window-1; use position.scheme: document")
    rows = stage.train.batch_size * p.get("windows_per_stream", 1)
    if p.get("cross_batch", 0) > rows - 1:
        raise RecipeError(
            f"attention.params.cross_batch = {p['cross_batch']}: a micro-batch has only {rows} rows "
            f"(train.batch_size {stage.train.batch_size} x windows_per_stream {p.get('windows_per_stream', 1)}), so a row "
            f"sees at most {rows - 1} earlier ones; raise train.batch_size or lower cross_batch"
        )
    if p.get("cross_batch", 0) > 0 and stage.data.split_policy == "chunk":
        raise RecipeError(
            "data.split_policy = 'chunk' with fot cross-batch: two pieces of one document could share a batch "
            "and a later piece be shown to an earlier one as memory; use split_policy 'truncate' or 'drop'"
        )


def settings(attention, window: int | None) -> dict:
    p = attention.params
    return {"method": "fot", "memory_layers": list(p["memory_layers"]), "window": p["window"],
            "last_context_length": last_context_length(p, p["window"])}


def position_span(attention, seq_len: int) -> int:
    """Positions run 0..window-1 in every row: the model's rope covers the window, not the stream."""
    return attention.params["window"]


def refusal(attention, config) -> str | None:
    """Memory layers are full-attention layers: a sliding layer (Gemma 2/3, EXAONE 4) keeps its window."""
    from ...families.family import text_config

    types = getattr(text_config(config), "layer_types", None) or []
    sliding = [i for i in attention.params.get("memory_layers", []) if i < len(types) and types[i] == "sliding_attention"]
    if not sliding:
        return None
    full = [i for i, t in enumerate(types) if t != "sliding_attention"]
    choose = f"choose memory layers among its full-attention layers {full}" if full else "it has no full-attention layer"
    return f"attention.params.memory_layers {sliding} are sliding-window layers, which keep their window; {choose}"


def smoke_params(params: dict, seq_len: int, layers: int) -> dict:
    """The same layout on --smoke's stand-in: its windows fill the shrunk stream, its memory layers
    exist, and a one-stream batch can hold its memory."""
    k = params.get("windows_per_stream", 1)
    window = seq_len // k
    return {**params, "window": window, "last_context_length": min(last_context_length(params, window), window),
            "memory_layers": sorted({min(i, layers - 1) for i in params["memory_layers"]}),
            "cross_batch": min(params.get("cross_batch", 0), k - 1)}


def register(saved: dict, path: str = "auto") -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, make_fot_attention(saved["memory_layers"], path))
    AttentionMaskInterface.register(NAME, mask_or_none)
    return NAME
