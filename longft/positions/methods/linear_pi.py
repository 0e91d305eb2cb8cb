"""Position interpolation (PI, Chen et al. 2023): positions divided by the factor (transformers' `linear`)."""
from ._factor import needs_factor


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    # transformers' linear type reads the original window from max_position_embeddings
    params = {"rope_type": "linear", "factor": position.factor, "rope_theta": current["rope_theta"], **position.params}
    return params, int(orig * position.factor)


validate = needs_factor
