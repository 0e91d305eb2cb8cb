"""YaRN (Peng et al. 2023): NTK-by-parts interpolation and an attention temperature."""
from ._factor import needs_factor


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    common = {"rope_theta": current["rope_theta"], "original_max_position_embeddings": orig}
    return {"rope_type": "yarn", "factor": position.factor, **common, **position.params}, int(orig * position.factor)


validate = needs_factor
