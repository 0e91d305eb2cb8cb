"""Dynamic NTK scaling: the RoPE base grows with the sequence length past the original window."""
from ._factor import needs_factor


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    # Dynamic NTK measures growth past max_position_embeddings: it must stay the original window,
    # or the scaling never starts.
    return {"rope_type": "dynamic", "factor": position.factor, "rope_theta": current["rope_theta"], **position.params}, orig


validate = needs_factor


def target_length(config: dict) -> int:
    """factor x the window, which dynamic NTK keeps in max_position_embeddings."""
    return int(config["max_position_embeddings"] * config["rope_parameters"]["factor"])


def rotary_dim(config: dict) -> int:
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return int(head_dim * (config["rope_parameters"].get("partial_rotary_factor") or 1.0))


def fixed_base(config: dict) -> float:
    """The one base transformers' dynamic NTK reaches at factor x the window, which vLLM and SGLang
    build once for every request: base * (factor^2 - factor + 1) ^ (d / (d - 2))."""
    rope, dim = config["rope_parameters"], rotary_dim(config)
    factor = rope["factor"]
    return rope["rope_theta"] * (factor * factor - factor + 1) ** (dim / (dim - 2))


def fixed_equivalent(config: dict) -> tuple[dict, int]:
    """(rope_parameters, max_position_embeddings) of plain RoPE with that base at the target length:
    every engine runs it the same, at the price of the original base inside the window."""
    rope = config["rope_parameters"]
    kept = {k: v for k, v in rope.items() if k == "partial_rotary_factor"}
    return {"rope_type": "default", "rope_theta": fixed_base(config), **kept}, target_length(config)


def engine_note(config: dict) -> str:
    window, target = config["max_position_embeddings"], target_length(config)
    return (
        f"dynamic NTK is not portable: transformers grows the RoPE base with each sequence past {window} tokens; "
        f"vLLM and SGLang build one fixed base ({fixed_base(config):.6g}, the base at {target} tokens) for every "
        "request, so inside the window they run a different model; TGI grows it only past its own cache length "
        "(by default unscaled) and llama.cpp's converter drops it (unscaled); "
        f"`longft export --dynamic-as-fixed` writes that fixed base as plain RoPE for {target} tokens, which every engine reads alike"
    )
