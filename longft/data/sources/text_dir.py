"""A folder of text files (`glob`, default **/*.txt), one document per file."""
from __future__ import annotations

import datasets

from ...errors import RecipeError
from ...testbed.corpus import read_text
from ..validate import check_text_files
from ._common import path_of

FIELDS = {"type", "path", "glob"}


def files(source: dict):
    return sorted(p for p in path_of(source).glob(source.get("glob", "**/*.txt")) if p.is_file())


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    path = path_of(source)
    if not path.is_dir():
        raise RecipeError(f"{check.label}: folder {str(path)!r} does not exist; set it to a folder of text files")
    found = files(source)
    if not found:
        raise RecipeError(f"{check.label}: no files match {source.get('glob', '**/*.txt')!r} in {str(path)!r}")
    check_text_files(found, max_undecodable_fraction, check)
    return True


def load(source: dict) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": [read_text(p) for p in files(source)]})
