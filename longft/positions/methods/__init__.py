"""Position methods by name: how each rewrites a model config's `rope_parameters`.

One module per method, in the spirit of transformers' `ROPE_INIT_FUNCTIONS`: a pure function
(current rope parameters, original window, recipe's position settings, target length) ->
(new rope parameters, new max_position_embeddings), and a check of the recipe's settings. The
frequencies themselves are transformers' own. Append new {"name": PositionMethod(...)} pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import dynamic_ntk, linear_pi, llama3, longrope, none, rope_theta, yarn


@dataclass(frozen=True)
class PositionMethod:
    rope_parameters: Callable  # (current, orig, position, target_len) -> (rope_parameters, max_position_embeddings)
    validate: Callable  # (position) -> None; raises RecipeError naming the field
    # defined up to factor x the original window (interpolation): a longer training length is refused
    bounded_by_factor: bool = False
    rope_type: str | None = None  # what it writes as rope_parameters["rope_type"]
    # (exported config dict) -> what serving engines do with it, where that is not what transformers does
    engine_note: Callable | None = None
    refusal: Callable | None = None  # (model config) -> why the model's family cannot take it, or None


POSITION_METHODS: dict[str, PositionMethod] = {
    "none": PositionMethod(none.rope_parameters, none.validate),
    "linear": PositionMethod(linear_pi.rope_parameters, linear_pi.validate, bounded_by_factor=True, rope_type="linear"),
    "dynamic": PositionMethod(dynamic_ntk.rope_parameters, dynamic_ntk.validate, rope_type="dynamic",
                              engine_note=dynamic_ntk.engine_note),
    "yarn": PositionMethod(yarn.rope_parameters, yarn.validate, bounded_by_factor=True, rope_type="yarn"),
    "llama3": PositionMethod(llama3.rope_parameters, llama3.validate, bounded_by_factor=True, rope_type="llama3"),
    "rope_theta": PositionMethod(rope_theta.rope_parameters, rope_theta.validate, rope_type="default"),
    "longrope": PositionMethod(longrope.rope_parameters, longrope.validate, rope_type="longrope",
                               engine_note=longrope.engine_note, refusal=longrope.refusal),
}
