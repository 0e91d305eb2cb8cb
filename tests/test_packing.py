"""Packer: every token kept or reported, the same seed gives the same packs, boundaries reach the model."""
import random
from collections import Counter

import datasets
import pytest
import torch

from longft.data.collator import PackedCollator
from longft.data.packing import best_fit_decreasing, pack_tokenized, split_documents


def fake_tokenized(lengths, seed=0):
    rng = random.Random(seed)
    ids = [[rng.randrange(3, 300) for _ in range(n)] for n in lengths]
    return datasets.Dataset.from_dict({"input_ids": ids, "length": lengths})


LENGTHS = [5, 300, 64, 64, 1, 129, 700, 33, 2, 128, 90, 17, 256, 3]


def chunked_view(lengths):
    """The same documents as several Arrow chunks behind a shuffled index mapping: the packer reads
    token ids straight from the chunks, so their layout must not matter."""
    whole = fake_tokenized(lengths)
    parts = [whole.select(range(0, 5)), whole.select(range(5, 9)), whole.select(range(9, len(lengths)))]
    return datasets.concatenate_datasets(parts).shuffle(seed=7)


@pytest.mark.parametrize("layout", [fake_tokenized, chunked_view])
@pytest.mark.parametrize("policy", ["chunk", "truncate", "drop"])
def test_token_conservation(policy, layout):
    tokenized = layout(LENGTHS)
    if layout is chunked_view:
        assert tokenized._indices is not None and len(tokenized.data.column("input_ids").chunks) == 3
    packed, stats = pack_tokenized(tokenized, seq_len=128, policy=policy, min_tokens=3, max_tokens=None)
    assert stats.conserved()
    assert stats.tokens_in == sum(LENGTHS)
    assert sum(len(x) for x in packed["input_ids"]) == stats.tokens_kept
    assert all(sum(d) == len(x) <= 128 for x, d in zip(packed["input_ids"], packed["doc_lens"]))
    # every packed piece is a contiguous slice of one input document, no slice is used twice, and
    # the kept multiset is exactly those slices' tokens
    docs = [list(d) for d in tokenized["input_ids"]]
    used = set()
    for ids, doc_lens in zip(packed["input_ids"], packed["doc_lens"]):
        start = 0
        for n in doc_lens:
            piece = list(ids[start : start + n])
            start += n
            hits = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc) - n + 1) if doc[i : i + n] == piece]
            assert len(hits) == 1, "a packed piece is not a slice of exactly one input document"
            d, i = hits[0]
            span = {(d, j) for j in range(i, i + n)}
            assert not span & used, "a token was packed twice"
            used |= span
    kept = Counter(t for x in packed["input_ids"] for t in x)
    assert kept == Counter(docs[d][j] for d, j in used)
    if policy == "chunk":  # windows of 128 tokens, those under min_tokens (3) dropped
        windows = [doc[s : s + 128] for doc in docs for s in range(0, len(doc), 128)]
        assert kept == Counter(t for w in windows if len(w) >= 3 for t in w)


def test_chunk_policy_keeps_every_long_token():
    _, stats = split_documents([700], seq_len=128, policy="chunk", min_tokens=1)
    assert stats.tokens_kept == 700 and stats.pieces == 6


def test_budget_is_counted():
    tokenized = fake_tokenized(LENGTHS)
    _, stats = pack_tokenized(tokenized, seq_len=128, policy="chunk", min_tokens=1, max_tokens=200)
    assert stats.conserved() and stats.tokens_dropped_budget > 0


def test_same_seed_same_packs_other_seed_other_order():
    tokenized = fake_tokenized(LENGTHS)
    a, _ = pack_tokenized(tokenized, 128, "chunk", 1, None, seed=3)
    b, _ = pack_tokenized(tokenized, 128, "chunk", 1, None, seed=3)
    c, _ = pack_tokenized(tokenized, 128, "chunk", 1, None, seed=4)
    assert a["input_ids"] == b["input_ids"] and a["doc_lens"] == b["doc_lens"]
    assert a["input_ids"] != c["input_ids"]


def test_best_fit_decreasing_fills_tightly():
    sizes = [60, 40, 70, 30, 50, 50, 100]
    bins = best_fit_decreasing(sizes, 100)
    assert sorted(i for b in bins for i in b) == list(range(len(sizes)))
    assert all(sum(sizes[i] for i in b) <= 100 for b in bins)
    assert len(bins) == 4  # 400 tokens in 4 full bins


def test_collator_restarts_positions_and_masks_boundaries():
    collate = PackedCollator(seq_len=10, pad_token_id=0)
    batch = collate([{"input_ids": [5, 6, 7, 8, 9, 10, 11], "doc_lens": [3, 4]}])
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2, 3, 0, 1, 2]]
    assert batch["labels"].tolist() == [[-100, 6, 7, -100, 9, 10, 11, -100, -100, -100]]
    assert batch["input_ids"].shape == (1, 10)
    assert batch["use_cache"] is False  # packed boundaries are only read when no KV cache is built


def test_column_array_follows_a_selected_view():
    from longft.data.packing import column_array

    view = chunked_view(LENGTHS)  # three Arrow chunks behind a shuffled index mapping
    assert column_array(view, "length").tolist() == list(view["length"])
