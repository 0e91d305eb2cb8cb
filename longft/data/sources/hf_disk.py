"""A dataset written with `datasets.save_to_disk` (a Dataset, or a DatasetDict and its `split`)."""
from __future__ import annotations

import datasets

from ...errors import RecipeError
from ..validate import check_saved_dataset
from ._common import path_of, text_column

FIELDS = {"type", "path", "field", "split"}


def files(source: dict):
    return sorted(p for p in path_of(source).rglob("*") if p.is_file())


def _saved(source: dict) -> datasets.Dataset:
    ds = datasets.load_from_disk(str(path_of(source)))
    if isinstance(ds, datasets.DatasetDict):
        split = source.get("split", "train")
        if split not in ds:
            raise RecipeError(f"hf_disk source {source['path']!r} has splits {list(ds)}, not {split!r}")
        ds = ds[split]
    return ds


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    path = path_of(source)
    if not (path / "dataset_info.json").is_file() and not (path / "dataset_dict.json").is_file():
        raise RecipeError(
            f"{check.label}: {str(path)!r} is not a dataset saved with `datasets.save_to_disk` "
            "(no dataset_info.json / dataset_dict.json)"
        )
    check_saved_dataset(_saved(source), source.get("field", "text"), f"{check.label}: {str(path)!r}", check)
    return True


def load(source: dict) -> datasets.Dataset:
    return text_column(_saved(source), source)
