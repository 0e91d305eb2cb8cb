"""Dynamic NTK scaling: the RoPE base grows with the sequence length past the original window."""
from ._factor import needs_factor


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    # Dynamic NTK measures growth past max_position_embeddings: it must stay the original window,
    # or the scaling never starts.
    return {"rope_type": "dynamic", "factor": position.factor, "rope_theta": current["rope_theta"], **position.params}, orig


validate = needs_factor
