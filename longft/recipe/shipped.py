"""Where the shipped recipes and accelerate configs are: inside the installed package when it was
installed from a wheel or `pip install .`, beside the source tree in a checkout."""
from __future__ import annotations

import importlib.util
from pathlib import Path


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
