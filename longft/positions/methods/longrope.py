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
