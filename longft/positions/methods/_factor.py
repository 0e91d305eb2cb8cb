"""The check every factor-based method shares."""
from ...errors import RecipeError


def needs_factor(position) -> None:
    if position.factor is None or position.factor <= 1:
        raise RecipeError(
            f"position.factor = {position.factor!r}: method {position.method!r} needs a factor > 1 "
            "(target length / original window)"
        )
