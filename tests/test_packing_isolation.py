"""Invariant 2: the loss of a packed batch equals the token-weighted loss of its documents one by one.
Invariant 1 on the packed SDPA path: no token after t changes the logits at t."""
import pytest
import torch

from longft.data.collator import PackedCollator

DOCS = [[7, 8, 9, 10, 11], [20, 21, 22, 23, 24, 25, 26, 27], [40, 41, 42], [50, 51, 52, 53, 54, 55]]


def packed_batch(seq_len=32):
    packs = [{"input_ids": sum(DOCS[:2], []), "doc_lens": [5, 8]}, {"input_ids": sum(DOCS[2:], []), "doc_lens": [3, 6]}]
    return PackedCollator(seq_len, pad_token_id=0)(packs)


def per_document_loss(model):
    total, count = 0.0, 0
    for doc in DOCS:
        ids = torch.tensor([doc])
        loss = model(input_ids=ids, labels=ids).loss
        total += loss.item() * (len(doc) - 1)
        count += len(doc) - 1
    return total / count


@pytest.mark.parametrize("attn", ["sdpa", "eager", "flex_attention"])
def test_packed_loss_equals_per_document_loss(make_model, attn):
    model = make_model(attn=attn)
    reference = make_model(attn="sdpa")  # same seed, same weights; one document at a time
    batch = packed_batch()
    with torch.no_grad():
        packed = model(**batch).loss.item()
        separate = per_document_loss(reference)
    assert packed == pytest.approx(separate, rel=1e-5)


def test_packing_without_boundaries_would_leak(make_model):
    """The check above can fail: with plain causal attention over the pack the losses differ."""
    model = make_model()
    batch = packed_batch()
    batch["position_ids"] = torch.arange(32).expand(2, -1)
    with torch.no_grad():
        leaky = model(**batch).loss.item()
    assert leaky != pytest.approx(per_document_loss(model), rel=1e-3)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_causality_on_packed_path(make_model, attn):
    model = make_model(attn=attn)
    batch = packed_batch()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ref = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        for t in [0, 4, 5, 12, 20, 30]:
            ids = batch["input_ids"].clone()
            ids[:, t + 1 :] = torch.randint(1, 300, ids[:, t + 1 :].shape, generator=gen)
            out = model(input_ids=ids, position_ids=batch["position_ids"], use_cache=False).logits
            assert torch.allclose(out[:, : t + 1], ref[:, : t + 1], atol=1e-5), f"future tokens changed position {t}"
            if t + 1 < 32:
                assert not torch.allclose(out[:, t + 1 :], ref[:, t + 1 :], atol=1e-5)
