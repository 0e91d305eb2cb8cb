"""Document sources by type: what a recipe's `{type: ...}` entries may say, one module each.

Every source becomes a `datasets.Dataset` with one document per row in a `text` column (and a
`prompt` column, never scored, for supervised pairs). A source module has FIELDS (the keys an
entry may hold), `files(source)` (what its content hash covers), `check(source, check, max_
undecodable_fraction)` (reads the data once before any model loads, naming the file and row of a
problem) and `load(source)`. Append new {"type": module} pairs to SOURCES.
"""
from __future__ import annotations

import hashlib
from typing import Any

import datasets

from ...errors import RecipeError
from ...recipe.schema import check_choice
from ..validate import SourceCheck
from . import copy_drills, hf, hf_disk, jsonl, parquet, retrieval_drills, sft_hf, sft_jsonl, testbed, text_dir

SOURCES = {
    "testbed": testbed,
    "text_dir": text_dir,
    "jsonl": jsonl,
    "parquet": parquet,
    "hf_disk": hf_disk,
    "hf": hf,  # datasets.load_dataset: a Hub id, a local folder in Hub layout, a loader with data_files; streamed
    "sft_jsonl": sft_jsonl,  # supervised pairs (LongAlpaca format): the loss covers the output only
    "sft_hf": sft_hf,  # the same pairs through datasets.load_dataset (a Hub id or a local folder)
    "retrieval_drills": retrieval_drills,  # synthetic lookups on the testbed code, for the base's pretraining
    "copy_drills": copy_drills,  # random values and their scored repeat: teaches a small base to copy
}


def validate_source(source: Any, where: str) -> None:
    """A recipe's source entry against its type's fields, at recipe load (nothing is read yet)."""
    if not isinstance(source, dict):
        raise RecipeError(f"{where} = {source!r}: a source is a mapping such as {{type: jsonl, path: docs.jsonl}}")
    kind = source.get("type")
    check_choice(f"{where}.type", kind, tuple(SOURCES))
    fields = SOURCES[kind].FIELDS
    unknown = set(source) - fields
    if unknown:
        raise RecipeError(f"{where} has unknown keys {sorted(unknown)}; a {kind} source takes {sorted(fields)}")
    if "path" in fields and not source.get("path"):
        raise RecipeError(f"{where}: a {kind} source needs a 'path'")
    splits = getattr(SOURCES[kind], "SPLITS", None)
    if splits and source.get("split", splits[0]) not in splits:
        raise RecipeError(f"{where}.split = {source.get('split')!r}: valid splits are {', '.join(map(repr, splits))}")
    if hasattr(SOURCES[kind], "validate"):
        SOURCES[kind].validate(source, where)


def check_sources(sources: list[dict], where: str = "data.sources", max_undecodable_fraction: float = 0.001,
                  log=print) -> None:
    """Fail early, naming the source, the file and the row, when the data is missing or bad."""
    for i, source in enumerate(sources):
        check = SourceCheck(f"{where}[{i}] ({source['type']})")
        if SOURCES[source["type"]].check(source, check, max_undecodable_fraction):
            log(check.report(), flush=True)


def sources_fingerprint(sources: list[dict]) -> str:
    """A content hash of the sources: the packed-data cache is keyed by it."""
    h = hashlib.sha256()
    for source in sources:
        h.update(repr(sorted(source.items())).encode())
        module = SOURCES[source["type"]]
        if hasattr(module, "fingerprint"):
            h.update(module.fingerprint(source).encode())
            continue
        for path in module.files(source):
            h.update(str(path).encode())
            try:
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            except FileNotFoundError as exc:
                raise _gone(source, exc) from None
    return h.hexdigest()[:16]


def _gone(source: dict, exc: FileNotFoundError) -> RecipeError:
    return RecipeError(f"{source['type']} source {source.get('path')!r}: {exc.filename or source.get('path')!r} was "
                       "there when the run was checked and is gone now; restore it, or rerun without it")


def load_source(source: dict) -> datasets.Dataset:
    try:
        return SOURCES[source["type"]].load(source)
    except FileNotFoundError as exc:
        raise _gone(source, exc) from None


def load_documents(sources: list[dict]) -> datasets.Dataset:
    parts = [load_source(s) for s in sources]
    if any("prompt" in p.column_names for p in parts):  # mixed sources: plain documents have no prompt
        parts = [p if "prompt" in p.column_names else p.add_column("prompt", [""] * len(p)) for p in parts]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
