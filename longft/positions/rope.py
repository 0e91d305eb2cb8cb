"""Set a model config's RoPE scaling through transformers' `rope_parameters`.

Each method (positions/methods/, one module each) is a small pure function from (current rope
parameters, original window, recipe values) to new rope parameters and a new
`max_position_embeddings`; the frequencies are computed by transformers' `ROPE_INIT_FUNCTIONS`.
"""
from __future__ import annotations

from ..recipe.schema import PositionConfig
from ..errors import RecipeError
from ..families import family_of
from ..families.family import scaled_types
from .methods import POSITION_METHODS

# What the family's architecture fixes inside rope parameters, which no position method changes:
# how much of a head rotates (GPT-NeoX, StableLM, GLM-4, Phi-4-mini rotate only part of it).
ARCHITECTURE_KEYS = ("partial_rotary_factor",)


def architecture_part(rope: dict) -> dict:
    return {k: rope[k] for k in ARCHITECTURE_KEYS if k in rope}


def scaled_layer_types(model_config) -> tuple:
    """The layer types whose rope parameters a position method rewrites, where the config keeps one
    dict per layer type (Gemma 3: the global layers; its local ones keep their window); () otherwise."""
    return scaled_types(family_of(model_config), getattr(model_config, "rope_parameters", None) or {})


def rope_to_scale(model_config) -> dict:
    """The rope parameters a position method starts from (for per-layer-type configs, the scaled type's)."""
    rope = getattr(model_config, "rope_parameters", None) or {}
    types = scaled_layer_types(model_config) if rope else ()
    return rope[types[0]] if types else rope


def with_scaled_rope(config: dict) -> dict:
    """A config.json's contents as a position method wrote them, seen flat: for a per-layer-type config
    (Gemma 3), `rope_parameters` is the scaled layer type's entry, so that what reads one rope dict
    (windows, served lengths, engine notes) reads the scaled one."""
    from ..families import FAMILIES
    from ..families.family import is_per_layer_type

    rope = config.get("rope_parameters") or {}
    if not is_per_layer_type(rope):
        return config
    family = FAMILIES.get(config.get("model_type"))
    types = scaled_types(family, rope) if family else ()
    return {**config, "rope_parameters": rope[types[0]] if types else {}}


def original_window(model_config, position: PositionConfig) -> int:
    """The window the weights were pretrained with, wherever the config keeps it."""
    if position.original_max_position_embeddings:
        return position.original_max_position_embeddings
    return window_of(rope_to_scale(model_config), model_config.max_position_embeddings)


def window_of(rope: dict, max_positions: int) -> int:
    """The pretrained window a config's rope parameters and max_position_embeddings imply."""
    if rope.get("original_max_position_embeddings"):
        return int(rope["original_max_position_embeddings"])
    if rope.get("rope_type") == "linear":  # linear keeps no original window: undo its stretch
        return int(max_positions / rope["factor"])
    return int(max_positions)


def check_window_from_config(model_config, position: PositionConfig, length: int, source: str) -> None:
    """The checks a recipe's own `original_max_position_embeddings` gets, for a window read from the
    model's config instead: a real window, and no training length past what the method covers."""
    import dataclasses

    if position.original_max_position_embeddings:
        return
    try:
        window = original_window(model_config, position)
    except (TypeError, ValueError, ZeroDivisionError, KeyError):
        window = 0
    if window < 1:
        raise RecipeError(
            f"the model config of {source!r} gives an original window of {window} (max_position_embeddings = "
            f"{getattr(model_config, 'max_position_embeddings', None)!r}); set position.original_max_position_embeddings "
            "to the window it was pretrained with"
        )
    check_length_fits_method(dataclasses.replace(position, original_max_position_embeddings=window), length)


def check_length_fits_method(position: PositionConfig, seq_len: int) -> None:
    """Interpolation methods are defined up to factor x original window; longer is a mistake."""
    orig = position.original_max_position_embeddings
    if orig is None or not POSITION_METHODS[position.method].bounded_by_factor:
        return
    limit = int(orig * position.factor)
    if seq_len > limit:
        raise RecipeError(
            f"data.seq_len = {seq_len} is longer than {position.method} with factor {position.factor} "
            f"on a {orig}-token window can take ({limit}); raise position.factor to at least "
            f"{seq_len / orig:g} or lower data.seq_len"
        )


def scaled_rope_parameters(current: dict, orig: int, position: PositionConfig, target_len: int) -> tuple[dict, int]:
    """(new rope_parameters, new max_position_embeddings) for the recipe's method; what the
    architecture fixes (partial rotary) is kept whatever the method writes."""
    params, max_pos = POSITION_METHODS[position.method].rope_parameters(current, orig, position, target_len)
    return {**architecture_part(current), **params}, max_pos


def apply_position_method(model_config, position: PositionConfig, target_len: int) -> None:
    """Rewrite `model_config` in place so that from_pretrained builds the scaled rotary embedding."""
    if not isinstance(getattr(model_config, "rope_parameters", None), dict):
        raise RecipeError(
            f"model type {model_config.model_type!r} has no rotary position embeddings (rope_parameters); "
            "position methods apply to RoPE models (docs/guides/model-families.md lists the families longft takes)"
        )
    if position.method == "none":
        return
    orig = original_window(model_config, position)
    types = scaled_layer_types(model_config)
    if types:  # one dict per layer type: the scaled types change, the others keep theirs
        params = {t: dict(r) for t, r in model_config.rope_parameters.items()}
        for t in types:
            params[t], max_pos = scaled_rope_parameters(params[t], orig, position, target_len)
    else:
        params, max_pos = scaled_rope_parameters(dict(model_config.rope_parameters), orig, position, target_len)
    model_config.rope_parameters = params
    model_config.max_position_embeddings = max_pos
    model_config.validate_rope()
