"""Where the shipped recipes and accelerate configs are: inside the installed package when it was
installed from a wheel or `pip install .`, beside the source tree in a checkout."""
from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from ..errors import RecipeError


def _shipped(package: str, folder: str) -> Path:
    """The package folder (data-only, so a namespace package) where installed, else the checkout's."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if any(Path(location).glob("*.yaml")):
            return Path(location)
    return Path(__file__).resolve().parent.parent.parent / folder


RECIPES_DIR = _shipped("longft._recipes", "recipes")
ACCELERATE_CONFIGS_DIR = _shipped("longft._accelerate_configs", "accelerate_configs")


def find_shipped_file(name_or_path: str, folder: Path, names: list[str], what: tuple[str, str],
                      near: Path | None = None) -> Path:
    """A path as given, or a name in `folder` (also looked up beside `near`, an including file);
    else a RecipeError naming the value, the close names and every valid one. `what`: the kind,
    singular and plural ("recipe", "recipes")."""
    candidates = [Path(name_or_path)]
    if near is not None:
        candidates += [near / name_or_path, near / f"{name_or_path}.yaml"]
    candidates += [folder / f"{name_or_path}.yaml", folder / name_or_path]
    for path in candidates:
        if path.is_file():
            return path
    close = difflib.get_close_matches(Path(name_or_path).stem, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise RecipeError(
        f"{what[0]} {name_or_path!r} not found.{hint} Valid {what[1]}: {', '.join(names)} (or a path to a YAML file)"
    )


def deepspeed_config_names() -> list[str]:
    return sorted(p.name for p in ACCELERATE_CONFIGS_DIR.glob("*.json"))


def find_deepspeed_config(name_or_path: str) -> str:
    """`train.deepspeed`: a path to a DeepSpeed JSON file, or the name of a shipped one."""
    names = deepspeed_config_names()
    try:
        return str(find_shipped_file(name_or_path, ACCELERATE_CONFIGS_DIR, [Path(n).stem for n in names],
                                     ("DeepSpeed config", "DeepSpeed configs")))
    except RecipeError:
        raise RecipeError(f"train.deepspeed = {name_or_path!r}: no such DeepSpeed config file; "
                          f"shipped ones: {', '.join(names)} (or a path to a JSON file)") from None
