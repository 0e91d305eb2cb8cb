"""Loading recipes: find a recipe by name or path, follow `extends:`, apply overrides, resolve stages."""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import RecipeError
from ..yaml_files import load_yaml
from .parsing import _build, deep_merge
from .schema import Recipe, _choice
from .shipped import RECIPES_DIR, find_shipped_file
from ..data.mix.definition import normalize_layer

def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml") if not p.stem.startswith("_"))


def find_recipe_file(name_or_path: str, relative_to: Path | None = None) -> Path:
    return find_shipped_file(name_or_path, RECIPES_DIR, recipe_names(), ("recipe", "recipes"), near=relative_to)


def load_raw(name_or_path: str, _seen: tuple = ()) -> dict:
    """Read a recipe file and the chain of recipes it extends, merged base-first."""
    path = find_recipe_file(name_or_path, _seen[-1].parent if _seen else None)
    if path.resolve() in _seen:
        raise RecipeError(f"recipe {path} extends itself through {[str(p) for p in _seen]}")
    raw = load_yaml(path.read_text(), f"recipe {path}") or {}
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {path} must be a mapping of sections, got {type(raw).__name__}")
    raw = normalize_layer(raw, f"recipe {path}")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise RecipeError(f"recipe {path}: extends = {parent!r}; it names one recipe (a name in recipes/ or a YAML path), "
                          "e.g. extends: tiny-yarn-4x")
    return deep_merge(load_raw(parent, _seen + (path.resolve(),)), raw)



def from_dict(raw: dict) -> Recipe:
    from ..stages import STAGE_KINDS

    recipe = _build(Recipe, raw, "")
    _choice("kind", recipe.kind, tuple(STAGE_KINDS))
    recipe.validate()
    return recipe


def default_name(name_or_path: str) -> str:
    """A recipe without `name:` is named after its file, with what a folder name cannot hold made '-'."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", Path(name_or_path).stem).lstrip(".-_")[:100] or "recipe"


def load_recipe(name_or_path: str, overrides: dict | None = None, smoke: bool = False) -> Recipe:
    raw = load_raw(name_or_path)
    raw.setdefault("name", default_name(name_or_path))
    if overrides:
        raw = deep_merge(raw, normalize_layer(overrides, "the command line"))
    raw["smoke"] = smoke or bool(raw.get("smoke", False))
    raw["overrides"] = overrides or {}
    return from_dict(raw)


def stage_recipes(recipe: Recipe) -> list[tuple[str, Recipe]]:
    """One recipe per stage: the top-level values with the stage's overrides on top."""
    if not recipe.stages:
        return [("main", recipe)]
    top = recipe.to_dict()
    top["stages"] = []
    out = []
    # the command line wins over a stage's own values, as it does over the recipe's
    cli = normalize_layer({k: v for k, v in recipe.overrides.items() if k != "stages"}, "the command line")
    for stage in recipe.stages:
        overrides = normalize_layer({k: v for k, v in stage.items() if k != "name"}, f"stage {stage['name']}")
        stage_recipe = from_dict(deep_merge(deep_merge(top, overrides), cli))
        out.append((stage["name"], stage_recipe))
    return out


