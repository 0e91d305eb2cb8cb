"""A larger RoPE base (rope_theta), as in Code Llama / EasyContext / "Scaling Laws of RoPE-based Extrapolation"."""
from ...errors import RecipeError


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    return {"rope_type": "default", "rope_theta": position.rope_theta}, max(orig, target_len)


def validate(position) -> None:
    if position.rope_theta is None or position.rope_theta <= 0:
        raise RecipeError(f"position.rope_theta = {position.rope_theta!r}: method 'rope_theta' needs a positive new base")
