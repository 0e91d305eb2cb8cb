"""S²-Attn: LongLoRA's group/shift semantics, no future-token leaks, paths agree, packing isolation."""
import pytest
import torch

from longft.methods.longlora.s2attn import (
    group_size_for,
    make_s2_attention,
    register_s2_attention,
    s2_flex,
    s2_sdpa,
    s2_sdpa_regular,
    segment_starts,
)
from longft.attention.boundaries import cu_seq_lens_from_doc_lens, document_starts
from longft.errors import RecipeError

H, N, D, G = 4, 64, 8, 16


def reference_mask(n: int, group: int, head: int, heads: int) -> torch.Tensor:
    """LongLoRA's definition written out: plain groups for the first half of the heads, groups
    shifted by G/2 (by offsets, no wrap-around) for the second half, causal inside a group."""
    allowed = torch.zeros(n, n, dtype=torch.bool)
    shift = group // 2 if head >= heads // 2 else 0
    for i in range(n):
        for j in range(i + 1):
            allowed[i, j] = (i + shift) // group == (j + shift) // group
    return allowed


def dense_reference(q, k, v, group):
    out = torch.zeros_like(q)
    for h in range(q.shape[1]):
        mask = reference_mask(q.shape[2], group, h, q.shape[1])
        scores = (q[:, h] @ k[:, h].transpose(-1, -2)) / q.shape[-1] ** 0.5
        out[:, h] = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v[:, h]
    return out


def qkv(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, H, N, D, generator=g) for _ in range(3)]


def boundaries(rows):
    """Document lengths per row -> the batch's explicit boundaries (cu_seq_lens)."""
    return cu_seq_lens_from_doc_lens(rows)


def starts(rows=None, batch=2):
    rows = rows or [[N]] * batch
    doc_starts = document_starts(boundaries(rows), len(rows), N, "cpu")
    return segment_starts(doc_starts, G, False), segment_starts(doc_starts, G, True)


PACKED = [[40, 24], [64]]


def varlen(rows):
    cu = boundaries(rows)
    longest = int((cu[1:] - cu[:-1]).max())
    return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}


def test_sdpa_path_equals_the_longlora_definition():
    q, k, v = qkv()
    assert torch.allclose(s2_sdpa(q, k, v, *starts(), None, H // 2), dense_reference(q, k, v, G), atol=1e-5)


@pytest.mark.parametrize("group", [G, N])
def test_unpacked_view_path_equals_the_longlora_definition(group):
    q, k, v = qkv()
    out = s2_sdpa_regular(q, k, v, group, None, H // 2).transpose(1, 2)
    assert torch.allclose(out, dense_reference(q, k, v, group), atol=1e-5)


def test_attention_function_takes_the_view_path_only_for_unpacked_rows(monkeypatch):
    from longft.methods.longlora import s2attn

    q, k, v = qkv()
    taken = []
    monkeypatch.setattr(s2attn, "s2_sdpa_regular", lambda *a: taken.append("view") or s2_sdpa_regular(*a))
    attn = make_s2_attention(0.25, None, "sdpa")
    out, _ = attn(None, q, k, v, None, **varlen([[40, 24]] * 2))
    assert not taken and torch.allclose(out.transpose(1, 2), s2_sdpa(q, k, v, *starts([[40, 24]] * 2), None, H // 2), atol=1e-6)
    out, _ = attn(None, q, k, v, None, **varlen([[N]] * 2))
    assert taken == ["view"] and torch.allclose(out.transpose(1, 2), dense_reference(q, k, v, G), atol=1e-5)


def test_flex_path_agrees_with_sdpa_path_with_packing():
    q, k, v = qkv()
    a = s2_sdpa(q, k, v, *starts(PACKED), None, H // 2)
    b = s2_flex(q, k, v, *starts(PACKED), None, H // 2)
    assert torch.allclose(a, b, atol=1e-5)


def rolled_reference(q, k, v, group):
    """The reference's non-flash path: roll half the heads by -G/2, attend causally in plain
    groups, roll back. The first G/2 tokens land in the last group, after everything else."""
    half = q.shape[1] // 2
    roll = lambda x, s: torch.cat([x[:, :half], x[:, half:].roll(s, dims=2)], dim=1)  # noqa: E731
    qr, kr, vr = roll(q, -group // 2), roll(k, -group // 2), roll(v, -group // 2)
    plain = torch.stack([reference_mask(q.shape[2], group, 0, 2)] * q.shape[1])
    scores = (qr @ kr.transpose(-1, -2)) / q.shape[-1] ** 0.5
    out = scores.masked_fill(~plain, float("-inf")).softmax(-1) @ vr
    return roll(out, group // 2)


def future_changes_past(attn, t=5):
    q, k, v = qkv(batch=1)
    out = attn(q, k, v)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, t + 1 :] += torch.randn_like(k2[:, :, t + 1 :])
    v2[:, :, t + 1 :] += torch.randn_like(v2[:, :, t + 1 :])
    return not torch.allclose(attn(q, k2, v2)[:, :, : t + 1], out[:, :, : t + 1], atol=1e-6)


def test_the_wrapping_roll_leaks_and_longft_does_not():
    assert future_changes_past(lambda q, k, v: rolled_reference(q, k, v, G))  # the defect exists
    assert not future_changes_past(lambda q, k, v: s2_sdpa(q, k, v, *starts(batch=1), None, H // 2))
    assert not future_changes_past(lambda q, k, v: s2_sdpa_regular(q, k, v, G, None, H // 2).transpose(1, 2))
    assert not future_changes_past(lambda q, k, v: s2_flex(q, k, v, *starts(batch=1), None, H // 2))


@pytest.mark.parametrize("path", ["sdpa", "flex"])
def test_model_causality_with_random_suffixes(make_model, path):
    register_s2_attention(0.25, None, path)
    model = make_model(attn="longft_s2attn")
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 300, (2, 64), generator=gen)
    pos = torch.tensor([list(range(40)) + list(range(24)), list(range(64))])
    with torch.no_grad():
        ref = model(input_ids=ids, position_ids=pos, use_cache=False, **varlen(PACKED)).logits
        for t in (0, 7, 8, 15, 31, 39, 40, 50):
            changed = ids.clone()
            changed[:, t + 1 :] = torch.randint(3, 300, changed[:, t + 1 :].shape, generator=gen)
            out = model(input_ids=changed, position_ids=pos, use_cache=False, **varlen(PACKED)).logits
            assert torch.allclose(out[:, : t + 1], ref[:, : t + 1], atol=1e-5), f"{path}: future changed {t}"


def test_packed_loss_equals_per_document_loss_under_s2(make_model):
    from longft.data.collator import PackedCollator

    register_s2_attention(0.25, None, "sdpa")  # G = 64 * 0.25 = 16 for the pack
    model = make_model(attn="longft_s2attn")
    gen = torch.Generator().manual_seed(1)
    docs = [torch.randint(3, 300, (n,), generator=gen).tolist() for n in (40, 24, 33, 31)]
    batch = PackedCollator(64, 0)(
        [{"input_ids": docs[0] + docs[1], "doc_lens": [40, 24]}, {"input_ids": docs[2] + docs[3], "doc_lens": [33, 31]}]
    )
    with torch.no_grad():
        packed = model(**batch).loss.item()
        register_s2_attention(0.25, 16, "sdpa")  # the same G for each document alone
        total = count = 0
        for doc in docs:
            ids = torch.tensor([doc])
            padded = len(doc) + (-len(doc)) % 16  # alone, a document still splits into whole groups
            ids = torch.cat([ids, torch.zeros(1, padded - len(doc), dtype=torch.long)], dim=1)
            labels = ids.clone()
            labels[:, len(doc) :] = -100
            total += model(input_ids=ids, labels=labels, use_cache=False).loss.item() * (len(doc) - 1)
            count += len(doc) - 1
    assert packed == pytest.approx(total / count, rel=1e-5)


def test_group_size_rules():
    assert group_size_for(32768, 0.25, None) == 8192
    assert group_size_for(1000, 0.25, 100) == 100
    with pytest.raises(RecipeError, match="cannot group a sequence of 1001"):
        group_size_for(1001, 0.25, None)
    with pytest.raises(RecipeError, match="group_size 300"):
        group_size_for(1000, 0.25, 300)


def test_unsplittable_recipe_length_fails_at_load():
    from longft.validation import load_recipe

    with pytest.raises(RecipeError, match="cannot group a sequence of 1020"):
        load_recipe("tiny-longlora", {"data": {"seq_len": 1020}})


def test_flash_path_is_refused_without_flash_attn():
    if torch.cuda.is_available():
        pytest.skip("a GPU machine may have flash-attn")
    with pytest.raises(RecipeError, match="flash-attn"):
        make_s2_attention(path="flash")
