"""The testbed corpus: the Python standard library's sources on this machine (train / heldout split).

`packages` keeps the files of some top-level packages only and `exclude_packages` leaves some
out (`toplevel` names the single-file modules beside them), so a data mix can treat parts of
the library as sources of their own.
"""
from __future__ import annotations

import datasets

from ...errors import RecipeError
from ...testbed.corpus import corpus_files, corpus_fingerprint, package_names, read_text

FIELDS = {"type", "split", "max_files", "packages", "exclude_packages"}
SPLITS = ("train", "heldout")


def validate(source: dict, where: str) -> None:
    for key in ("packages", "exclude_packages"):
        packages = source.get(key)
        if packages is None:
            continue
        if not isinstance(packages, list) or not packages or not all(isinstance(p, str) for p in packages):
            raise RecipeError(f"{where}.{key} = {packages!r}: a non-empty list of package names, e.g. [email, toplevel]")
        valid = package_names()
        unknown = [p for p in packages if p not in valid]
        if unknown:
            raise RecipeError(f"{where}.{key}: {unknown} not in this machine's standard library; valid: {', '.join(valid)}")


def files(source: dict):
    return corpus_files(
        source.get("split", "train"), source.get("max_files"), source.get("packages"), source.get("exclude_packages")
    )


def fingerprint(source: dict) -> str:
    return corpus_fingerprint()


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    return False  # shipped with Python: nothing to check, nothing to report


def load(source: dict) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": [read_text(p) for p in files(source)]})
