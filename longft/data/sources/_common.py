"""What the sources share: the path, a missing-file message, one text column (file-based sources);
whole-number fields (generated sources)."""
from __future__ import annotations

from pathlib import Path

import datasets

from ...errors import RecipeError


def path_of(source: dict) -> Path:
    return Path(source["path"]).expanduser()


def require_file(source: dict, label: str) -> Path:
    path = path_of(source)
    if not path.is_file():
        kind = source["type"].replace("sft_", "")
        raise RecipeError(f"{label}: file {str(path)!r} does not exist; set its 'path' to a local {kind} file")
    return path


def text_column(ds: datasets.Dataset, source: dict) -> datasets.Dataset:
    field = source.get("field", "text")
    if field not in ds.column_names:
        raise RecipeError(
            f"{source['type']} source {source.get('path')!r} has no column {field!r}; its columns are {ds.column_names} "
            "(set 'field' on the source)"
        )
    ds = ds.select_columns([field])
    if getattr(ds.features[field], "dtype", "string") != "string":  # large_string, string_view
        ds = ds.cast_column(field, datasets.Value("string"))
    return ds.rename_column(field, "text") if field != "text" else ds


def require_whole_number(source: dict, key: str, where: str, default: int, minimum: int | None = None) -> None:
    """`source[key]` (or `default`) is an int, not a bool, and at least `minimum` where one is given."""
    value = source.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise RecipeError(f"{where}.{key} = {value!r}: must be a whole number{bound}")
