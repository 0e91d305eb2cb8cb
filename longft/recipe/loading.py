"""Reading recipes: find a recipe by name or path, follow `extends:`, apply overrides, resolve stages.

What this gives is typed and range-checked; the checks against the registries (names of methods,
sources, stage kinds) are `longft.validation`'s, which is what the pipeline and the CLI call.
Each layer of a recipe (a file, the command line, a stage's overrides) passes through `normalize`
before the layers merge: the data layer's `normalize_layer`, which resolves a named mix, is passed
in by those callers, so that this module reads no data files itself.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from ..errors import RecipeError
from ..yaml_files import load_yaml
from .parsing import _build, deep_merge
from .schema import Recipe
from .shipped import RECIPES_DIR, find_shipped_file

Normalize = Callable[[dict, str], dict]  # (one layer, where it comes from) -> the layer made explicit


def as_written(layer: dict, where: str) -> dict:
    return layer


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml") if not p.stem.startswith("_"))


def find_recipe_file(name_or_path: str, relative_to: Path | None = None) -> Path:
    return find_shipped_file(name_or_path, RECIPES_DIR, recipe_names(), ("recipe", "recipes"), near=relative_to)


def load_raw(name_or_path: str, normalize: Normalize = as_written, _seen: tuple = ()) -> dict:
    """Read a recipe file and the chain of recipes it extends, merged base-first."""
    path = find_recipe_file(name_or_path, _seen[-1].parent if _seen else None)
    if path.resolve() in _seen:
        raise RecipeError(f"recipe {path} extends itself through {[str(p) for p in _seen]}")
    raw = load_yaml(path.read_text(), f"recipe {path}") or {}
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {path} must be a mapping of sections, got {type(raw).__name__}")
    raw = normalize(raw, f"recipe {path}")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise RecipeError(f"recipe {path}: extends = {parent!r}; it names one recipe (a name in recipes/ or a YAML path), "
                          "e.g. extends: tiny-yarn-4x")
    return deep_merge(load_raw(parent, normalize, _seen + (path.resolve(),)), raw)


def build_recipe(raw: dict) -> Recipe:
    """The typed recipe, every section's types and ranges checked."""
    recipe = _build(Recipe, raw, "")
    recipe.validate()
    return recipe


def default_name(name_or_path: str) -> str:
    """A recipe without `name:` is named after its file, with what a folder name cannot hold made '-'."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", Path(name_or_path).stem).lstrip(".-_")[:100] or "recipe"


def read_raw_recipe(name_or_path: str, overrides: dict | None = None, smoke: bool = False,
                    normalize: Normalize = as_written) -> dict:
    raw = load_raw(name_or_path, normalize)
    raw.setdefault("name", default_name(name_or_path))
    if overrides:
        raw = deep_merge(raw, normalize(overrides, "the command line"))
    raw["smoke"] = smoke or bool(raw.get("smoke", False))
    raw["overrides"] = overrides or {}
    return raw


def read_recipe(name_or_path: str, overrides: dict | None = None, smoke: bool = False,
                normalize: Normalize = as_written) -> Recipe:
    """A recipe typed and range-checked only: for reading a section (the testbed's model) without
    the layers above. Runs go through `longft.validation.load_recipe`."""
    return build_recipe(read_raw_recipe(name_or_path, overrides, smoke, normalize))


def raw_stages(recipe: Recipe, normalize: Normalize = as_written) -> list[tuple[str, dict]]:
    """One raw recipe per stage: the top-level values with the stage's overrides on top."""
    if not recipe.stages:
        return [("main", recipe.to_dict())]
    top = recipe.to_dict()
    top["stages"] = []
    out = []
    # the command line wins over a stage's own values, as it does over the recipe's
    cli = normalize({k: v for k, v in recipe.overrides.items() if k != "stages"}, "the command line")
    for stage in recipe.stages:
        overrides = normalize({k: v for k, v in stage.items() if k != "name"}, f"stage {stage['name']}")
        out.append((stage["name"], deep_merge(deep_merge(top, overrides), cli)))
    return out
