"""The model families longft takes, one entry each: append {"model_type": Family(...)} to add one.

Module names come from each family's modeling code in transformers 5; which layers rotate and what
happens to the logits are the family's own rules, written as functions of its config.
"""
from __future__ import annotations

import torch

from .family import Family, every_layer_rotates

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
LLAMA_NORMS = ("input_layernorm", "post_attention_layernorm", "norm")
QK_NORMS = ("q_norm", "k_norm")
GEMMA_NORMS = LLAMA_NORMS + ("pre_feedforward_layernorm", "post_feedforward_layernorm")
POST_NORMS = ("post_attention_layernorm", "post_feedforward_layernorm", "norm")  # OLMo 2, EXAONE 4: norms after


def soft_capped(config):
    """Gemma 2: logits -> cap * tanh(logits / cap)."""
    cap = getattr(config, "final_logit_softcapping", None)
    return None if not cap else (lambda logits: torch.tanh(logits / cap) * cap)


def times_logit_scale(config):
    """Cohere: logits * logit_scale."""
    scale = getattr(config, "logit_scale", None)
    return None if scale in (None, 1, 1.0) else (lambda logits: logits * scale)


def over_logits_scaling(config):
    """Granite: logits / logits_scaling."""
    scale = getattr(config, "logits_scaling", None)
    return None if scale in (None, 1, 1.0) else (lambda logits: logits / scale)


def smollm3_rope_layers(config) -> list[bool]:
    """SmolLM3: `no_rope_layers[i]` is 1 where layer i rotates (NoPE on every fourth by default)."""
    flags = getattr(config, "no_rope_layers", None)
    return [bool(f) for f in flags] if flags else every_layer_rotates(config)


def exaone4_rope_layers(config) -> list[bool]:
    """EXAONE 4: with a sliding window, only the sliding (local) layers rotate; the global ones are NoPE."""
    if getattr(config, "sliding_window", None) is None:
        return every_layer_rotates(config)
    types = config.layer_types or ["full_attention"] * config.num_hidden_layers
    return [t == "sliding_attention" for t in types]


FAMILIES: dict[str, Family] = {
    "llama": Family("LlamaConfig", ATTENTION),
    "mistral": Family("MistralConfig", ATTENTION),
    "ministral": Family("MinistralConfig", ATTENTION),
    "mixtral": Family("MixtralConfig", ATTENTION, standin={"num_local_experts": 4, "num_experts_per_tok": 2}),
    "qwen2": Family("Qwen2Config", ATTENTION),
    "qwen2_moe": Family("Qwen2MoeConfig", ATTENTION, standin={"num_experts": 4, "num_experts_per_tok": 2,
                                                              "moe_intermediate_size": 32,
                                                              "shared_expert_intermediate_size": 64}),
    "qwen3": Family("Qwen3Config", ATTENTION, norms=LLAMA_NORMS + QK_NORMS),
    "qwen3_moe": Family("Qwen3MoeConfig", ATTENTION, norms=LLAMA_NORMS + QK_NORMS,
                        standin={"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}),
    "gemma2": Family("Gemma2Config", ATTENTION, norms=GEMMA_NORMS, logit_transform=soft_capped,
                     standin={"query_pre_attn_scalar": 16, "sliding_window": 8}),
    "gemma3_text": Family("Gemma3TextConfig", ATTENTION, norms=GEMMA_NORMS + QK_NORMS,
                          standin={"query_pre_attn_scalar": 16, "sliding_window": 8, "sliding_window_pattern": 2}),
    "phi3": Family("Phi3Config", ("qkv_proj", "o_proj")),
    "olmo2": Family("Olmo2Config", ATTENTION, norms=POST_NORMS + QK_NORMS),
    "glm4": Family("Glm4Config", ATTENTION, interleaved_rotary=True,
                   norms=LLAMA_NORMS + ("post_self_attn_layernorm", "post_mlp_layernorm")),
    "cohere": Family("CohereConfig", ATTENTION, interleaved_rotary=True, norms=("input_layernorm", "norm"),
                     logit_transform=times_logit_scale, standin={"logit_scale": 0.5}),
    "granite": Family("GraniteConfig", ATTENTION, logit_transform=over_logits_scaling,
                      standin={"logits_scaling": 2.0, "embedding_multiplier": 4.0, "attention_multiplier": 0.2,
                               "residual_multiplier": 0.5}),
    "stablelm": Family("StableLmConfig", ATTENTION, packing_refusal=(
        "its decoder layer calls attention without the forward's keyword arguments (transformers 5's "
        "StableLmDecoderLayer), so a packed batch's document boundaries never reach attention and its documents "
        "would see each other")),
    "smollm3": Family("SmolLM3Config", ATTENTION, rope_layers=smollm3_rope_layers,
                      standin={"no_rope_layer_interval": 2}),
    "exaone4": Family("Exaone4Config", ATTENTION, norms=POST_NORMS + QK_NORMS, rope_layers=exaone4_rope_layers,
                      standin={"sliding_window": 8, "sliding_window_pattern": 2}),
    "gpt_neox": Family("GPTNeoXConfig", ("query_key_value", "dense"), embed=("embed_in",),
                       norms=("input_layernorm", "post_attention_layernorm", "final_layer_norm"),
                       standin={"num_key_value_heads": None}),  # no grouped-query attention
}
