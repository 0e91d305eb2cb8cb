"""The check every factor-based method shares."""
from ...errors import RecipeError

# 1024 x a 4k window is 4M tokens: past it a factor is a typo (1e308 overflows the window arithmetic)
MAX_FACTOR = 1024


def needs_factor(position) -> None:
    if position.factor is None or not 1 < position.factor <= MAX_FACTOR:
        raise RecipeError(
            f"position.factor = {position.factor!r}: method {position.method!r} needs a factor > 1 and <= {MAX_FACTOR} "
            "(target length / original window)"
        )
