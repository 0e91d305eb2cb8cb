"""What a model family is to longft: the facts its modeling code fixes, and the traits its config sets.

A `Family` holds what only the family's code says (module names, how it rotates pairs, which layers
skip RoPE, what it does to its logits). Everything a config can say (head dim, partial rotary, layer
types, soft caps, experts) is read from the config by the functions below, never from the class name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


def every_layer_rotates(config) -> list[bool]:
    return [True] * config.num_hidden_layers


@dataclass(frozen=True)
class Family:
    config_class: str  # transformers' config class, for stand-ins and `model.init: scratch`
    lora_targets: tuple  # the attention projections LoRA adapts by default
    embed: tuple = ("embed_tokens",)  # the input embedding, trained in full under LoRA+
    norms: tuple = ("input_layernorm", "post_attention_layernorm", "norm")  # trained in full under LoRA+
    # rotary pairs: (i, i + d/2) as Llama's rotate_half, or neighbours (2i, 2i + 1)
    interleaved_rotary: bool = False
    rope_layers: Callable = every_layer_rotates  # (config) -> per layer: does it apply RoPE
    # (config) -> a function the family applies to the output head's logits, or None
    logit_transform: Callable = lambda config: None
    standin: dict = field(default_factory=dict)  # config fields a tiny stand-in of the family needs
    # the layer types whose rope parameters a position method rewrites, where the config keeps
    # rope parameters per layer type (Gemma 3 scales its global layers only)
    scaled_layer_types: tuple = ("full_attention",)
    # why packed training cannot keep this family's documents apart, where its code stops the batch's
    # boundaries (cu_seq_lens) from reaching the attention function; None where they reach it
    packing_refusal: str | None = None


def text_config(config):
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def head_dim(config) -> int:
    config = text_config(config)
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def is_per_layer_type(rope: dict | None) -> bool:
    """Whether rope parameters hold one dict per layer type (Gemma 3's local/global) rather than one."""
    return bool(rope) and all(isinstance(v, dict) for v in rope.values())


def per_layer_type_rope(config) -> bool:
    """Whether the config keeps one rope-parameter dict per layer type."""
    return is_per_layer_type(getattr(text_config(config), "rope_parameters", None))


def scaled_types(family, rope: dict) -> tuple:
    """The layer types of per-layer-type rope parameters that a position method rewrites: the family's
    `scaled_layer_types` the config has; () for a single rope dict."""
    return tuple(t for t in family.scaled_layer_types if t in rope) if is_per_layer_type(rope) else ()


def layer_type(config, layer_idx: int) -> str:
    types = getattr(text_config(config), "layer_types", None)
    return types[layer_idx] if types else "full_attention"


def rope_parameters_of_layer(config, layer_idx: int) -> dict:
    rope = text_config(config).rope_parameters
    return rope[layer_type(config, layer_idx)] if per_layer_type_rope(config) else rope


def rotary_dim(config, layer_idx: int = 0) -> int:
    """How many features of a head RoPE rotates (partial rotary: the first head_dim * factor)."""
    factor = rope_parameters_of_layer(config, layer_idx).get("partial_rotary_factor") or 1.0
    return int(head_dim(config) * factor)


def attention_softcap(config) -> float | None:
    return getattr(text_config(config), "attn_logit_softcapping", None) or None


EXPERT_FIELDS = ("num_local_experts", "num_experts", "n_routed_experts")  # where configs keep a mixture's size


def experts(config) -> int:
    config = text_config(config)
    return max(int(getattr(config, name, None) or 0) for name in EXPERT_FIELDS)
