"""A parquet file with one document per row in a string column (`field`, default text)."""
from __future__ import annotations

import datasets

from ..validate import check_parquet
from ._common import path_of, require_file, text_column

FIELDS = {"type", "path", "field"}


def files(source: dict):
    return [path_of(source)]


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    check_parquet(require_file(source, check.label), source.get("field", "text"), check)
    return True


def load(source: dict) -> datasets.Dataset:
    return text_column(datasets.load_dataset("parquet", data_files=str(path_of(source)), split="train"), source)
