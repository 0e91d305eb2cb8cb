"""Synthetic retrieval drills on the testbed's training code (see longft/synthetic/drills.py).

`{type: retrieval_drills, documents: 4000, seed: 0}`: that many drill documents, generated
reproducibly from the seed. The haystack is always the training split: the held-out split that
evaluation reads stays free of drills. `min_chars` / `max_chars` bound each drill's haystack (by
default 40 / 440 characters, inside a 256-token window); longer drills put lookups several windows
after their assignments, which is what FoT's memory layers must learn to bridge.
"""
from __future__ import annotations

import hashlib

import datasets

from ...errors import RecipeError
from ...synthetic.drills import MAX_CHARS, MIN_CHARS, drill_documents
from ...testbed.corpus import corpus_files, corpus_fingerprint, read_text
from ._common import require_whole_number

FIELDS = {"type", "documents", "seed", "min_chars", "max_chars"}
VERSION = 3  # bump when the drills' form changes: the packed-data cache is keyed by it


def validate(source: dict, where: str) -> None:
    require_whole_number(source, "documents", where, 0, minimum=1)
    require_whole_number(source, "seed", where, 0)
    require_whole_number(source, "min_chars", where, MIN_CHARS, minimum=1)
    require_whole_number(source, "max_chars", where, MAX_CHARS, minimum=1)
    low, high = source.get("min_chars", MIN_CHARS), source.get("max_chars", MAX_CHARS)
    if high < low:
        raise RecipeError(f"{where}.max_chars = {high}: must be >= min_chars ({low})")


def files(source: dict):
    return corpus_files("train")


def fingerprint(source: dict) -> str:
    return hashlib.sha256(f"drills-v{VERSION}-{corpus_fingerprint()}".encode()).hexdigest()[:16]


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    return False  # generated from the shipped corpus: nothing to check


def load(source: dict) -> datasets.Dataset:
    texts = [read_text(p) for p in files(source)]
    docs = drill_documents(
        texts, source["documents"], source.get("seed", 0),
        source.get("min_chars", MIN_CHARS), source.get("max_chars", MAX_CHARS),
    )
    return datasets.Dataset.from_dict({"text": docs})
