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


POSITION_METHODS: dict[str, PositionMethod] = {
    "none": PositionMethod(none.rope_parameters, none.validate),
    "linear": PositionMethod(linear_pi.rope_parameters, linear_pi.validate, bounded_by_factor=True),
    "dynamic": PositionMethod(dynamic_ntk.rope_parameters, dynamic_ntk.validate),
    "yarn": PositionMethod(yarn.rope_parameters, yarn.validate, bounded_by_factor=True),
    "llama3": PositionMethod(llama3.rope_parameters, llama3.validate, bounded_by_factor=True),
    "rope_theta": PositionMethod(rope_theta.rope_parameters, rope_theta.validate),
    "longrope": PositionMethod(longrope.rope_parameters, longrope.validate),
}
