"""Landmark attention's grouped softmax: against a direct computation written out query by query,
causal, packed documents isolated, and its gradient."""
import math

import pytest
import torch

from longft.methods.landmark import block_bias
from longft.methods.landmark.block_bias import RowBlocks, chunked_attention, flex_attention_grouped
from longft.methods.landmark.grouped_softmax import block_layout, closing_landmark, grouped_softmax_weights, landmark_attention


def layout(doc_lengths: list[int], mem_freq: int):
    """A row of documents with a landmark after every mem_freq tokens of each: (is_landmark, doc_start, doc_id)."""
    is_lm, start, doc = [], [], []
    for d, n in enumerate(doc_lengths):
        for k in range(n):
            start.append(k == 0)
            is_lm.append((k + 1) % (mem_freq + 1) == 0)
            doc.append(d)
    return torch.tensor([is_lm]), torch.tensor([start]), torch.tensor([doc])


def allowed_mask(doc: torch.Tensor) -> torch.Tensor:
    n = doc.shape[-1]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    return (causal & (doc[0][:, None] == doc[0][None, :]))[None, None]


def direct_weights(s: torch.Tensor, allowed: torch.Tensor, block: torch.Tensor, is_lm: torch.Tensor) -> torch.Tensor:
    """The method as the paper states it, one query at a time (one head, one row)."""
    n = s.shape[-1]
    w = torch.zeros(n, n, dtype=s.dtype)
    for i in range(n):
        seen = [j for j in range(n) if allowed[i, j]]
        current = [j for j in seen if block[j] == block[i] and not is_lm[j]]
        landmarks = [j for j in seen if is_lm[j] and block[j] < block[i]]
        top = torch.softmax(s[i, current + landmarks], dim=0)
        for k, j in enumerate(current):
            w[i, j] = top[k]
        for k, lm in enumerate(landmarks):
            members = [j for j in seen if block[j] == block[lm] and not is_lm[j]]
            inner = torch.softmax(s[i, members], dim=0)
            for m, j in enumerate(members):
                w[i, j] = top[len(current) + k] * inner[m]
    return w


def test_blocks_count_from_each_document_and_a_landmark_closes_its_block():
    is_lm, start, _ = layout([9, 6], mem_freq=3)
    assert block_layout(is_lm, start)[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 0, 0, 0, 0, 1, 1]
    assert closing_landmark(is_lm)[0].tolist() == [3, 3, 3, 3, 7, 7, 7, 7, 12, 12, 12, 12, 12, 13, 14]


@pytest.mark.parametrize("docs", [[14], [9, 7], [4, 11, 5]], ids=["one", "two", "three"])
def test_the_grouped_softmax_equals_the_direct_computation(docs):
    torch.manual_seed(0)
    is_lm, start, doc = layout(docs, mem_freq=3)
    n = is_lm.shape[-1]
    scores = torch.randn(1, 2, n, n, dtype=torch.float64)
    allowed = allowed_mask(doc)
    block = block_layout(is_lm, start)
    got = grouped_softmax_weights(scores, allowed, block, is_lm)
    for h in range(2):
        want = direct_weights(scores[0, h], allowed[0, 0], block[0], is_lm[0])
        torch.testing.assert_close(got[0, h], want)
    torch.testing.assert_close(got.sum(-1), torch.ones(1, 2, n, dtype=torch.float64))  # each row a distribution
    assert (got[..., is_lm[0]] == 0).all()  # landmarks route weight, they carry no value


def test_it_is_causal_and_packed_documents_never_see_each_other():
    torch.manual_seed(1)
    is_lm, start, doc = layout([10, 9], mem_freq=2)
    n = is_lm.shape[-1]
    q, k, v = (torch.randn(1, 2, n, 8, dtype=torch.float64) for _ in range(3))
    block = block_layout(is_lm, start)
    packed = landmark_attention(q, k, v, allowed_mask(doc), block, is_lm, 1 / math.sqrt(8))
    # causal: changing what comes later changes nothing before it
    k2, v2 = k.clone(), v.clone()
    k2[..., 6:, :] += 5.0
    v2[..., 6:, :] -= 3.0
    later = landmark_attention(q, k2, v2, allowed_mask(doc), block, is_lm, 1 / math.sqrt(8))
    torch.testing.assert_close(later[..., :6, :], packed[..., :6, :])
    # isolated: the second document alone gives what it gave packed
    alone = slice(10, n)
    lm2, start2, doc2 = layout([9], mem_freq=2)
    single = landmark_attention(q[..., alone, :], k[..., alone, :], v[..., alone, :], allowed_mask(doc2),
                                block_layout(lm2, start2), lm2, 1 / math.sqrt(8))
    torch.testing.assert_close(packed[..., alone, :], single)


def test_the_gradient_is_exact():
    torch.manual_seed(2)
    is_lm, start, doc = layout([7, 5], mem_freq=2)
    n = is_lm.shape[-1]
    q, k, v = (torch.randn(1, 1, n, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    block = block_layout(is_lm, start)
    fn = lambda q, k, v: landmark_attention(q, k, v, allowed_mask(doc), block, is_lm, 0.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_blocks_are_numbered_along_the_row_each_closed_by_its_landmark():
    is_lm, start, _ = layout([9, 6], mem_freq=3)
    rows = RowBlocks(start, mem_freq=3)
    assert rows.block[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 4]
    assert (rows.is_landmark == is_lm).all()
    assert rows.landmark_at[0, :2].tolist() == [3, 7] and rows.landmark_at[0, 3] == 12


@pytest.mark.parametrize("docs", [[14], [9, 7], [4, 11, 5], [8, 8, 3]], ids=["one", "two", "three", "closed-ends"])
def test_the_chunked_and_flex_paths_give_the_grouped_softmax(docs, monkeypatch):
    """One softmax with a bias per query and earlier block (block_bias.py) is the grouped softmax;
    chunks of one block of queries make every chunk boundary fall inside some document."""
    monkeypatch.setattr(block_bias, "CHUNK_SCORES", 1)
    torch.manual_seed(4)
    is_lm, start, doc = layout(docs, mem_freq=3)
    n = is_lm.shape[-1]
    q, k, v = (torch.randn(1, 2, n, 8, dtype=torch.float64) for _ in range(3))
    want = landmark_attention(q, k, v, allowed_mask(doc), block_layout(is_lm, start), is_lm, 1 / math.sqrt(8))
    rows = RowBlocks(start, mem_freq=3)
    torch.testing.assert_close(chunked_attention(q, k, v, rows, 1 / math.sqrt(8)), want)
    flex = flex_attention_grouped(q.float(), k.float(), v.float(), rows, 1 / math.sqrt(8))  # forward: all the CPU has
    torch.testing.assert_close(flex.double(), want, atol=1e-5, rtol=1e-5)


def test_the_chunked_path_gradient_is_exact(monkeypatch):
    monkeypatch.setattr(block_bias, "CHUNK_SCORES", 1)  # several chunks, each recomputed in the backward
    torch.manual_seed(5)
    is_lm, start, doc = layout([7, 5], mem_freq=2)
    n = is_lm.shape[-1]
    q, k, v = (torch.randn(1, 1, n, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    rows = RowBlocks(start, mem_freq=2)
    assert torch.autograd.gradcheck(lambda q, k, v: chunked_attention(q, k, v, rows, 0.5), (q, k, v))


def test_through_a_model_without_landmarks_in_reach_it_is_causal_attention(make_model):
    from longft.methods.landmark.attention import register

    ids = torch.randint(3, 300, (2, 24), generator=torch.Generator().manual_seed(3))
    ours, plain = make_model(attn=register({"mem_freq": 64})), make_model(attn="sdpa")
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids).logits, plain(input_ids=ids).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("path", ["dense", "segments", "chunked", "auto-chunked"])
def test_through_a_model_packed_documents_give_what_they_give_alone(make_model, path, monkeypatch):
    """The boundaries the collator sends place each document's landmarks and blocks: a packed batch
    scores as its documents one by one, and no token sees another document or a later token."""
    from longft.methods.landmark.attention import register
    from test_packing_isolation import DOCS, packed_batch

    from longft.methods.landmark import attention

    if path == "auto-chunked":  # auto takes chunked past SEGMENTS_MAX_TOKENS
        monkeypatch.setattr(attention, "SEGMENTS_MAX_TOKENS", 3)
        path = "auto"
    monkeypatch.setattr(block_bias, "CHUNK_SCORES", 1)
    model = make_model(attn=register({"mem_freq": 2}, path))
    batch = packed_batch()
    with torch.no_grad():
        packed = model(**batch).logits
        row, col = 0, 0
        for doc_index, doc in enumerate(DOCS):
            row, col = (0, 0) if doc_index == 0 else (1, 0) if doc_index == 2 else (row, col)
            alone = model(input_ids=torch.tensor([doc])).logits[0]
            torch.testing.assert_close(packed[row, col:col + len(doc)], alone, atol=1e-5, rtol=1e-5)
            col += len(doc)
        later = batch["input_ids"].clone()
        later[:, 10:] = 299
        changed = model(**{**batch, "input_ids": later}).logits
        torch.testing.assert_close(changed[:, :10], packed[:, :10])


def test_the_chunked_path_trains_under_activation_checkpointing_as_segments_does(make_model, monkeypatch):
    """Its own recomputation nests inside the layers' activation checkpointing: the same gradients."""
    from longft.methods.landmark.attention import register
    from test_packing_isolation import packed_batch

    monkeypatch.setattr(block_bias, "CHUNK_SCORES", 1)
    grads = {}
    for path in ("segments", "chunked"):
        torch.manual_seed(6)
        model = make_model(attn=register({"mem_freq": 2}, path))
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        batch = packed_batch()
        model(**batch).loss.backward()
        grads[path] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert grads["chunked"].keys() == grads["segments"].keys() and grads["segments"]
    for name, g in grads["segments"].items():
        torch.testing.assert_close(grads["chunked"][name], g, atol=1e-5, rtol=1e-4, msg=name)
