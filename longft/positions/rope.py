"""Set a model config's RoPE scaling through transformers' `rope_parameters`.

Each method is a small pure function from (current rope parameters, original window,
recipe values) to new rope parameters and a new `max_position_embeddings`; the
frequencies themselves are computed by transformers' own `ROPE_INIT_FUNCTIONS`.
"""
from __future__ import annotations

from ..config import PositionConfig, RecipeError


def original_window(model_config, position: PositionConfig) -> int:
    """The window the weights were pretrained with, wherever the config keeps it."""
    if position.original_max_position_embeddings:
        return position.original_max_position_embeddings
    rope = getattr(model_config, "rope_parameters", None) or {}
    if rope.get("original_max_position_embeddings"):
        return int(rope["original_max_position_embeddings"])
    if rope.get("rope_type") == "linear":  # linear keeps no original window: undo its stretch
        return int(model_config.max_position_embeddings / rope["factor"])
    return int(model_config.max_position_embeddings)


def scaled_rope_parameters(current: dict, orig: int, position: PositionConfig, target_len: int) -> tuple[dict, int]:
    """(new rope_parameters, new max_position_embeddings) for one method."""
    theta = current["rope_theta"]
    method = position.method
    if method == "none":
        return dict(current), max(orig, target_len)
    common = {"rope_theta": theta, "original_max_position_embeddings": orig}
    if method == "linear":
        # transformers' linear and dynamic types read the original window from max_position_embeddings
        params = {"rope_type": "linear", "factor": position.factor, "rope_theta": theta, **position.params}
        return params, int(orig * position.factor)
    if method == "dynamic":
        # Dynamic NTK measures growth past max_position_embeddings: it must stay the original
        # window, or the scaling never starts.
        return {"rope_type": "dynamic", "factor": position.factor, "rope_theta": theta, **position.params}, orig
    if method == "yarn":
        return {"rope_type": "yarn", "factor": position.factor, **common, **position.params}, int(orig * position.factor)
    if method == "llama3":
        params = {"low_freq_factor": 1.0, "high_freq_factor": 4.0, **position.params}
        return {"rope_type": "llama3", "factor": position.factor, **common, **params}, int(orig * position.factor)
    if method == "rope_theta":
        return {"rope_type": "default", "rope_theta": position.rope_theta}, max(orig, target_len)
    if method == "longrope":
        missing = {"short_factor", "long_factor"} - set(position.params)
        if missing:
            raise RecipeError(f"position.method 'longrope' needs position.params {sorted(missing)} (searched factors)")
        factor = position.factor or target_len / orig
        return {"rope_type": "longrope", "factor": factor, **common, **position.params}, max(target_len, orig)
    raise RecipeError(f"position.method = {method!r} has no rope mapping")


def apply_position_method(model_config, position: PositionConfig, target_len: int) -> None:
    """Rewrite `model_config` in place so that from_pretrained builds the scaled rotary embedding."""
    if not isinstance(getattr(model_config, "rope_parameters", None), dict):
        raise RecipeError(
            f"model type {model_config.model_type!r} has no rotary position embeddings (rope_parameters); "
            "position methods apply to RoPE models such as llama, mistral, qwen2"
        )
    if position.method == "none":
        return
    orig = original_window(model_config, position)
    current = dict(model_config.rope_parameters)
    params, max_pos = scaled_rope_parameters(current, orig, position, target_len)
    model_config.rope_parameters = params
    model_config.max_position_embeddings = max_pos
    model_config.validate_rope()
