"""Llama-3.1 scaling: low frequencies interpolated, high frequencies kept, a smooth band between."""
from ._factor import needs_factor


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    common = {"rope_theta": current["rope_theta"], "original_max_position_embeddings": orig}
    params = {"low_freq_factor": 1.0, "high_freq_factor": 4.0, **position.params}
    return {"rope_type": "llama3", "factor": position.factor, **common, **params}, int(orig * position.factor)


validate = needs_factor
