"""The testbed corpus: the Python standard library's sources on this machine (train / heldout split)."""
from __future__ import annotations

import datasets

from ...testbed.corpus import corpus_files, corpus_fingerprint, read_text

FIELDS = {"type", "split", "max_files"}
SPLITS = ("train", "heldout")


def files(source: dict):
    return corpus_files(source.get("split", "train"), source.get("max_files"))


def fingerprint(source: dict) -> str:
    return corpus_fingerprint()


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    return False  # shipped with Python: nothing to check, nothing to report


def load(source: dict) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": [read_text(p) for p in files(source)]})
