"""Turning RoPE back: what the hybrid's full layers (RoPE removed) and the sink cache (keys moved to
earlier slots) both need, from the frequencies transformers' own rope functions give."""
from __future__ import annotations

import torch


def rope_inv_freq(config, device) -> tuple[torch.Tensor, float]:
    """The inverse frequencies of the model's rotary embedding and its attention factor."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    rope = config.rope_parameters
    if rope.get("rope_type", "default") == "default":
        dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        inv = 1.0 / (rope["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float, device=device) / dim))
        return inv, 1.0
    return ROPE_INIT_FUNCTIONS[rope["rope_type"]](config, device)


def rotate_back(x: torch.Tensor, steps: torch.Tensor | float, inv_freq: torch.Tensor) -> torch.Tensor:
    """x rotated by -steps * inv_freq; `steps` broadcasts against x's leading dims without the last."""
    from transformers.models.llama.modeling_llama import rotate_half

    angles = torch.as_tensor(steps, dtype=torch.float, device=x.device)[..., None] * inv_freq
    emb = torch.cat([angles, angles], dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    return x * cos - rotate_half(x) * sin
