"""Invariant 2: the loss of a packed batch equals the token-weighted loss of its documents run one by
one, on every attention path that runs on the CPU and with position ids that have gaps inside a
document. Invariant 1 on the packed paths: no token after t changes the logits at t."""
import pytest
import torch

from longft.attention.full import register_full_attention
from longft.data.collator import PackedCollator

DOCS = [[7, 8, 9, 10, 11], [20, 21, 22, 23, 24, 25, 26, 27], [40, 41, 42], [50, 51, 52, 53, 54, 55]]
CPU_PATHS = ["dense", "segments", "eager", "flex"]


def packed_batch(seq_len=32):
    packs = [{"input_ids": sum(DOCS[:2], []), "doc_lens": [5, 8]}, {"input_ids": sum(DOCS[2:], []), "doc_lens": [3, 6]}]
    return PackedCollator(seq_len, pad_token_id=0)(packs)


def gapped(batch, gap=5):
    """Position ids with a jump inside every document (as PoSE or randomized schemes write them)."""
    pos = batch["position_ids"].clone()
    pos[pos >= 2] += gap
    return {**batch, "position_ids": pos}


def per_document_loss(model, gap=0):
    total, count = 0.0, 0
    for doc in DOCS:
        ids = torch.tensor([doc])
        pos = torch.arange(len(doc))
        pos[pos >= 2] += gap
        loss = model(input_ids=ids, labels=ids, position_ids=pos[None]).loss
        total += loss.item() * (len(doc) - 1)
        count += len(doc) - 1
    return total / count


def longft_model(make_model, path):
    name = register_full_attention(path)
    return make_model(attn=name)


@pytest.mark.parametrize("gap", [0, 5], ids=["document-positions", "gaps-inside-documents"])
@pytest.mark.parametrize("path", CPU_PATHS)
def test_packed_loss_equals_per_document_loss(make_model, path, gap):
    model = longft_model(make_model, path)
    reference = make_model(attn="sdpa")  # same seed, same weights; one document at a time
    batch = gapped(packed_batch(), gap) if gap else packed_batch()
    with torch.no_grad():
        packed = model(**batch).loss.item()
        separate = per_document_loss(reference, gap)
    assert packed == pytest.approx(separate, rel=1e-5)


def test_boundaries_come_from_the_batch_not_from_position_ids(make_model):
    """transformers alone would read a gap as a new document and mask inside one; longft does not."""
    model = make_model(attn="sdpa")
    batch = gapped(packed_batch())
    inferred = dict(batch)
    for key in ("attention_mask", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k"):
        inferred.pop(key)
    with torch.no_grad():
        wrong = model(**inferred).loss.item()
    assert wrong != pytest.approx(per_document_loss(model, gap=5), rel=1e-4)


def test_packing_without_boundaries_would_leak(make_model):
    """The check above can fail: with one document per row the losses differ."""
    model = longft_model(make_model, "dense")
    batch = packed_batch()
    n = batch["input_ids"].numel()
    batch["cu_seq_lens_q"] = batch["cu_seq_lens_k"] = torch.tensor([0, 32, n], dtype=torch.int32)
    with torch.no_grad():
        leaky = model(**batch).loss.item()
    assert leaky != pytest.approx(per_document_loss(model), rel=1e-3)


def test_long_packs_take_a_path_linear_in_length(make_model, capsys):
    from longft.attention.full import choose_path

    one_doc = torch.tensor([0, 16384], dtype=torch.int32)
    assert choose_path("auto", 16384, False, 8192, one_doc, 1, 4, 64) == "segments"  # past the dense cap
    model = make_model(attn=register_full_attention("auto", dense_mask_max_tokens=16))
    with torch.no_grad():
        packed = model(**packed_batch()).loss.item()
    assert "on the 'segments' path" in capsys.readouterr().out
    assert packed == pytest.approx(per_document_loss(make_model(attn="sdpa")), rel=1e-5)


def test_auto_takes_the_path_that_costs_less_for_the_batchs_documents():
    """Documents of a few lengths: per-document calls skip the cross-document pairs a dense mask pays
    for. A short row cut into many documents of many lengths: the calls' fixed cost is more."""
    from longft.attention.full import choose_path
    from longft.attention.path_cost import costs

    few = torch.tensor([0, 1500, 3000, 4096], dtype=torch.int32)
    assert choose_path("auto", 4096, False, 8192, few, 1, 4, 64) == "segments"
    many = torch.cat([torch.zeros(1), torch.arange(1, 23).cumsum(0)]).to(torch.int32)  # 22 lengths, 253 tokens
    many = torch.cat([many, torch.tensor([256], dtype=torch.int32)])
    estimate = costs(many, 1, 256, 4, 64)
    assert estimate["dense"] < estimate["segments"] and choose_path("auto", 256, False, 8192, many, 1, 4, 64) == "dense"
    assert choose_path("auto", 256, False, 128, many, 1, 4, 64) == "segments"  # the dense cap holds
    assert choose_path("segments", 256, False, 8192, many, 1, 4, 64) == "segments"  # a named path is kept
    # a call's fixed cost weighs less where a pair costs more (more heads, wider heads)
    assert costs(many, 1, 256, 16, 128)["segments"] < estimate["segments"]


@pytest.mark.parametrize("path", CPU_PATHS)
def test_causality_on_packed_paths(make_model, path):
    model = longft_model(make_model, path)
    batch = packed_batch()
    extra = {k: batch[k] for k in ("position_ids", "attention_mask", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")}
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ref = model(input_ids=batch["input_ids"], use_cache=False, **extra).logits
        for t in [0, 4, 5, 12, 20, 30]:
            ids = batch["input_ids"].clone()
            ids[:, t + 1 :] = torch.randint(1, 300, ids[:, t + 1 :].shape, generator=gen)
            out = model(input_ids=ids, use_cache=False, **extra).logits
            assert torch.allclose(out[:, : t + 1], ref[:, : t + 1], atol=1e-5), f"future tokens changed position {t}"
            if t + 1 < 32:
                assert not torch.allclose(out[:, t + 1 :], ref[:, t + 1 :], atol=1e-5)


def test_without_boundaries_full_attention_is_transformers_sdpa(make_model):
    """Evaluation and generation (no boundaries, a KV cache) behave as the exported model will."""
    ours, plain = longft_model(make_model, "auto"), make_model(attn="sdpa")
    ids = torch.randint(3, 300, (2, 24), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(ours(input_ids=ids).logits, plain(input_ids=ids).logits, atol=1e-6)
        a = ours.generate(ids[:, :8], max_new_tokens=6, do_sample=False)
        b = plain.generate(ids[:, :8], max_new_tokens=6, do_sample=False)
    assert torch.equal(a, b)


def test_the_path_is_costed_once_per_forward_not_per_layer(make_model, monkeypatch):
    """Every layer gets the batch's one cu_seq_lens tensor: its path is chosen once, and afresh for
    the next batch."""
    import longft.attention.full as full

    calls = []
    real = full.choose_path
    monkeypatch.setattr(full, "choose_path", lambda *a: calls.append(a[1]) or real(*a))
    model = longft_model(make_model, "auto")
    assert model.config.num_hidden_layers > 1
    batch = packed_batch()
    with torch.no_grad():
        model(**batch)
        assert len(calls) == 1
        model(**batch)  # the same tensor again: already costed
        assert len(calls) == 1
        fresh = {**batch, "cu_seq_lens_q": batch["cu_seq_lens_q"].clone(), "cu_seq_lens_k": batch["cu_seq_lens_k"].clone()}
        model(**fresh)
    assert len(calls) == 2


@pytest.mark.parametrize("path", ["dense", "segments", "eager"])  # flex has no backward on the CPU
def test_packed_paths_train_under_bf16_autocast(make_model, path):
    """bf16-mixed training (the testbed base's precision) runs every packed path: under CPU autocast
    SDPA returns bf16 into a float32 output, which the per-length gather must cast. Documents of
    equal length in different rows take that gather."""
    model = longft_model(make_model, path)
    packs = [{"input_ids": DOCS[0] + DOCS[2] + DOCS[3][:5], "doc_lens": [5, 3, 5]},
             {"input_ids": DOCS[1][:5] + DOCS[3], "doc_lens": [5, 6]}]
    batch = PackedCollator(16, pad_token_id=0)(packs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)
