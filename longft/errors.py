"""The one error type for bad input: raised before any work starts, printed as one line."""


class RecipeError(ValueError):
    """A recipe or its inputs are invalid; the message names the value and what would be valid."""
