"""Synthetic retrieval drills on the testbed's training code (see longft/synthetic/drills.py).

`{type: retrieval_drills, documents: 4000, seed: 0}`: that many drill documents, generated
reproducibly from the seed. The haystack is always the training split: the held-out split that
evaluation reads stays free of drills. `min_chars` / `max_chars` bound each drill's haystack (by
default 40 / 440 characters, inside a 256-token window); longer drills put lookups several windows
after their assignments, which is what FoT's memory layers must learn to bridge. `edge_share` is the
share of drills whose first assignment opens the document, and again of those where it closes the
code (by default 0.35; the rest are placed uniformly). `passkey_share` (by default 0) is the share of
drills in the code passkey's own form (`passkey = N  # the pass key` ... `# recall the pass key`): a
recipe that trains on them makes passkey evaluation measure a trained form, and says so.
"""
from __future__ import annotations

import hashlib

import datasets

from ...errors import RecipeError
from ...synthetic.drills import EDGE_SHARE, MAX_CHARS, MIN_CHARS, drill_documents
from ...testbed.corpus import corpus_files, corpus_fingerprint, read_text
from ._common import require_whole_number

FIELDS = {"type", "documents", "seed", "min_chars", "max_chars", "edge_share", "passkey_share"}
VERSION = 4  # bump when the drills' form changes: the packed-data cache is keyed by it
DEFAULTS = {"seed": 0, "min_chars": MIN_CHARS, "max_chars": MAX_CHARS, "edge_share": EDGE_SHARE, "passkey_share": 0.0}


def settings(source: dict) -> dict:
    return {**DEFAULTS, **{k: v for k, v in source.items() if k in DEFAULTS}}


def validate(source: dict, where: str) -> None:
    for key in ("documents", "min_chars", "max_chars"):
        require_whole_number(source, key, where, DEFAULTS.get(key, 0), minimum=1)
    require_whole_number(source, "seed", where, 0)
    s = settings(source)
    if s["max_chars"] < s["min_chars"]:
        raise RecipeError(f"{where}.max_chars = {s['max_chars']}: must be >= min_chars ({s['min_chars']})")
    share = s["edge_share"]
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share <= 0.5:
        raise RecipeError(f"{where}.edge_share = {share!r}: must be a number from 0 to 0.5 (a share at each end)")
    share = s["passkey_share"]
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share <= 1:
        raise RecipeError(f"{where}.passkey_share = {share!r}: must be a number from 0 to 1 (the share of drills in the passkey's form)")


def files(source: dict):
    return corpus_files("train")


def fingerprint(source: dict) -> str:
    return hashlib.sha256(f"drills-v{VERSION}-{corpus_fingerprint()}".encode()).hexdigest()[:16]


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    return False  # generated from the shipped corpus: nothing to check


def load(source: dict) -> datasets.Dataset:
    texts = [read_text(p) for p in files(source)]
    s = settings(source)
    docs = drill_documents(texts, source["documents"], s["seed"], s["min_chars"], s["max_chars"], s["edge_share"],
                           s["passkey_share"])
    return datasets.Dataset.from_dict({"text": docs})
