"""Model families: one table entry per transformers model type (table.py), what each family's code
fixes (family.py's `Family`), and the traits read from a config (family.py's functions)."""
from __future__ import annotations

from ..errors import RecipeError
from .family import Family, text_config
from .table import FAMILIES

SUPPORTED_MODEL_TYPES = tuple(FAMILIES)


def family_of(config) -> Family:
    """The table entry of a model config's type; a type not in the table fails with the ones that are."""
    model_type = text_config(config).model_type
    if model_type not in FAMILIES:
        raise RecipeError(f"model type {model_type!r} is not supported; supported types: {', '.join(FAMILIES)}")
    return FAMILIES[model_type]


def config_class(model_type: str):
    import transformers

    return getattr(transformers, FAMILIES[model_type].config_class)


__all__ = ["FAMILIES", "Family", "SUPPORTED_MODEL_TYPES", "config_class", "family_of"]
