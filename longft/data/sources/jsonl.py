"""JSON lines, one document per line in a string field (`field`, default text)."""
from __future__ import annotations

import datasets

from ..validate import check_jsonl
from ._common import path_of, require_file, text_column

FIELDS = {"type", "path", "field"}


def files(source: dict):
    return [path_of(source)]


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    check_jsonl(require_file(source, check.label), {source.get("field", "text"): (True, "field")}, check)
    return True


def load(source: dict) -> datasets.Dataset:
    return text_column(datasets.load_dataset("json", data_files=str(path_of(source)), split="train"), source)
