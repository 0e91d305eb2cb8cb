"""The range checks every section uses: each raises one RecipeError naming the field, the value and what is valid."""
from __future__ import annotations

import difflib
import re
from typing import Any

from ...errors import RecipeError

# A recipe's and a stage's name become folder names (runs/<recipe>/<stage>): plain names only, none
# that longft itself writes inside a run folder.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RUN_FOLDER_NAMES = ("report", "initial", "checkpoints", "final", "recipe.json")


def check_name(path: str, value: Any) -> None:
    """A recipe or stage name is a plain folder name: it never points elsewhere or at longft's own files."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise RecipeError(
            f"{path} = {value!r} is not a valid name: it becomes a folder name, so use letters, digits, '.', '_' "
            "and '-' (up to 100, starting with a letter or digit), never a path"
        )
    if value in RUN_FOLDER_NAMES:
        raise RecipeError(f"{path} = {value!r} is a name longft uses inside a run folder; choose a name other than "
                          f"{', '.join(RUN_FOLDER_NAMES)}")


def check_choice(path: str, value: Any, valid: tuple) -> None:
    if value not in valid:
        close = difflib.get_close_matches(str(value), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RecipeError(f"{path} = {value!r} is not valid{hint}; valid values: {', '.join(valid)}")


def check_positive(path: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise RecipeError(f"{path} = {value}: must be >= {minimum}")


def check_seed(path: str, value: int) -> None:
    """Seeds go to numpy, which takes 0 .. 2**32 - 1."""
    if not 0 <= value < 2**32:
        raise RecipeError(f"{path} = {value}: must be >= 0 and < 2**32 (the range numpy seeds take)")


def check_number_in(path: str, value: float, low: float, high: float | None, low_open=False, high_open=False) -> None:
    """value in the interval from low to high (None: unbounded), each end closed unless said open."""
    below = value <= low if low_open else value < low
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open or high is None else "]"
        raise RecipeError(f"{path} = {value}: must be in {left}{low}, {'inf' if high is None else high}{right}")


def check_depths(path: str, depths: list) -> None:
    if not depths:
        raise RecipeError(f"{path} is empty; give depths in [0, 1], e.g. [0.0, 0.5, 1.0]")
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= float(d) <= 1.0:
            raise RecipeError(f"{path} has {d!r}: depths are fractions in [0, 1]")
