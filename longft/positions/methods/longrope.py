"""LongRoPE (Ding et al. 2024): searched per-dimension factors, long and short (methods/longrope/ searches them)."""
from ...errors import RecipeError


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    missing = {"short_factor", "long_factor"} - set(position.params)
    if missing:
        raise RecipeError(f"position.method 'longrope' needs position.params {sorted(missing)} (searched factors)")
    factor = position.factor or target_len / orig
    common = {"rope_theta": current["rope_theta"], "original_max_position_embeddings": orig}
    return {"rope_type": "longrope", "factor": factor, **common, **position.params}, max(target_len, orig)


def validate(position) -> None:
    pass


def refusal(config) -> str | None:
    """LongRoPE's factors rescale one rotary table; a config with one per layer type (Gemma 3) has two."""
    from ...families.family import is_per_layer_type

    rope = getattr(config, "rope_parameters", None) or {}
    if is_per_layer_type(rope):
        return (f"its rope parameters are kept per layer type ({', '.join(rope)}), and LongRoPE's searched "
                "factors rescale one rotary table")
    return None


def engine_note(config: dict) -> str:
    window = config["rope_parameters"]["original_max_position_embeddings"]
    note = (
        f"LongRoPE's short factors are chosen per forward call only by transformers (sequences within {window} "
        "tokens); vLLM chooses once from its max_model_len and llama.cpp once from its context size, so served "
        f"past {window} tokens they use the long factors for every request, short prompts included (SGLang: for "
        "the whole batch when any position passes the window; TGI: by position within one sequence)"
    )
    if config.get("model_type") != "phi3":
        note += ("; llama.cpp's converter writes LongRoPE factor tensors only for Phi-3-family models, so a "
                 f"{config.get('model_type')} GGUF runs without them")
    return note
