"""Turning RoPE back: what the hybrid's full layers (RoPE removed), FoT's memory keys (moved to
position 0) and the sink cache (keys moved to earlier slots) need, the way the model's family
rotates: from the frequencies transformers' own rope functions give, on the rotary part of a head
only (partial rotary), in its pair layout (halves or neighbours), and not at all on a layer that
applies no RoPE (SmolLM3's NoPE layers, EXAONE 4's global layers).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..families import family_of
from ..families.family import layer_type, per_layer_type_rope, rope_parameters_of_layer, rotary_dim, text_config


@dataclass(frozen=True)
class LayerRotary:
    inv_freq: torch.Tensor  # (rotary_dim / 2,): one frequency per rotated pair
    attention_factor: float  # what the rope type multiplies cos and sin by
    interleaved: bool  # pairs (2i, 2i + 1) rather than (i, i + rotary_dim / 2)


def layer_rotary(config, layer_idx: int, device) -> LayerRotary | None:
    """How layer `layer_idx` rotates its queries and keys; None where it applies no RoPE."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    family = family_of(config)
    text = text_config(config)
    if not family.rope_layers(text)[layer_idx]:
        return None
    rope = rope_parameters_of_layer(text, layer_idx)
    rope_type = rope.get("rope_type", "default")
    if rope_type == "default":
        dim = rotary_dim(text, layer_idx)
        inv = 1.0 / (rope["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float, device=device) / dim))
        factor = 1.0
    else:
        extra = {"layer_type": layer_type(text, layer_idx)} if per_layer_type_rope(text) else {}
        inv, factor = ROPE_INIT_FUNCTIONS[rope_type](text, device, **extra)
    return LayerRotary(inv.to(device), float(factor), family.interleaved_rotary)


def _rotate_pairs(x: torch.Tensor, interleaved: bool) -> torch.Tensor:
    if interleaved:
        return torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotate_back(x: torch.Tensor, steps: torch.Tensor | float, rotary: LayerRotary | None,
                undo_factor: bool = False) -> torch.Tensor:
    """x rotated by -steps * inv_freq on its rotary features; `steps` broadcasts against x's leading
    dims without the last. `undo_factor` also divides out the rope type's attention factor (which
    rotation at position 0 keeps). A layer without RoPE (rotary None) gets x back."""
    if rotary is None:
        return x
    dim = 2 * rotary.inv_freq.shape[0]
    rot, rest = x[..., :dim], x[..., dim:]
    angles = torch.as_tensor(steps, dtype=torch.float, device=x.device)[..., None] * rotary.inv_freq
    repeat = (lambda a: a.repeat_interleave(2, dim=-1)) if rotary.interleaved else (lambda a: torch.cat([a, a], dim=-1))
    cos, sin = repeat(angles.cos()).to(x.dtype), repeat(angles.sin()).to(x.dtype)
    turned = rot * cos - _rotate_pairs(rot, rotary.interleaved) * sin
    if undo_factor:
        turned = turned / rotary.attention_factor
    return torch.cat([turned, rest], dim=-1) if rest.shape[-1] else turned
