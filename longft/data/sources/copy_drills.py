"""Copy drills (see longft/synthetic/copies.py): random values, then the same values again.

`{type: copy_drills, documents: 20000, seed: 0, min_items: 2, max_items: 12}`: that many documents,
each a line of min_items..max_items random numbers, words and names followed by its repeat. The
first copy is the prompt (never scored), the repeat the scored text, so the loss asks for copying
and nothing else. Generated, not read: nothing reaches the held-out split.
"""
from __future__ import annotations

import hashlib

import datasets

from ...errors import RecipeError
from ...synthetic.copies import copy_lines
from ._common import require_whole_number

FIELDS = {"type", "documents", "seed", "min_items", "max_items"}
VERSION = 1  # bump when the drills' form changes: the packed-data cache is keyed by it
DEFAULTS = {"seed": 0, "min_items": 2, "max_items": 12}


def settings(source: dict) -> dict:
    return {**DEFAULTS, **{k: v for k, v in source.items() if k in DEFAULTS}}


def validate(source: dict, where: str) -> None:
    for key in ("documents", "min_items", "max_items"):
        require_whole_number(source, key, where, DEFAULTS.get(key, 0), minimum=1)
    require_whole_number(source, "seed", where, 0)
    s = settings(source)
    if s["min_items"] > s["max_items"]:
        raise RecipeError(f"{where}.min_items = {s['min_items']} is above max_items = {s['max_items']}")


def files(source: dict):
    return []


def fingerprint(source: dict) -> str:
    return hashlib.sha256(f"copies-v{VERSION}-{sorted(settings(source).items())}".encode()).hexdigest()[:16]


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    return False  # generated: nothing to read


def load(source: dict) -> datasets.Dataset:
    s = settings(source)
    lines = copy_lines(source["documents"], s["seed"], s["min_items"], s["max_items"])
    return datasets.Dataset.from_dict({"prompt": lines, "text": lines})  # the first copy unscored, then the repeat
