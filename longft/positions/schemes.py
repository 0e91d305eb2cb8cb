"""Position schemes: what the collator writes as position ids for a packed row.

A scheme maps the documents of one row (their lengths; the padding tail is one more
document) to position ids. Which document a token belongs to never comes from here: the
batch carries the boundaries on their own (`attention/boundaries.py`), so a scheme may
leave gaps inside a document. Append new {"name": callable} pairs to POSITION_SCHEMES.
"""
from __future__ import annotations


def document_positions(doc_lens: list[int], seq_len: int, rng=None) -> list[int]:
    """Each document counts from 0, as it would alone."""
    return [p for n in doc_lens for p in range(n)]


POSITION_SCHEMES = {"document": document_positions}
