"""Landmark attention around the grouped softmax: the token, the collator's insertion and label
masking, block retrieval from the cache, the stream against the training-time attention, the
recipe's checks, and the export round trip."""
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from conftest import tiny_llama
from longft.data.collator import PackedCollator
from longft.errors import RecipeError
from longft.methods.landmark.attention import register
from longft.methods.landmark.layout import LandmarkRows
from longft.methods.landmark.memory import LandmarkStream
from longft.methods.landmark.retrieval import retrieval_attention, select_blocks, slot_count
from longft.methods.landmark.tokens import LANDMARK_TOKEN, add_landmark_token, insert_landmarks
from longft.validation import load_recipe

LM = 299  # the landmark's id in the tiny models' 300-token vocabulary


def text(n: int, seed: int = 0) -> list[int]:
    return torch.randint(3, 290, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def test_landmarks_go_after_every_mem_freq_tokens_of_each_document():
    ids, lens, masked, places = insert_landmarks(list(range(10, 24)), [7, 7], [0, 4], 3, LM)
    assert ids == [10, 11, 12, LM, 13, 14, 15, LM, 16, 17, 18, 19, LM, 20, 21, 22, LM, 23]
    assert lens == [9, 9] and masked == [0, 5] and places == [3, 7, 12, 16]
    # where the attention function expects them: (k + 1) % (mem_freq + 1) == 0 inside each document
    k = [i for n in lens for i in range(n)]
    assert [i for i, kk in enumerate(k) if (kk + 1) % 4 == 0] == places


def test_the_collator_inserts_landmarks_and_asks_no_loss_at_them():
    rows = LandmarkRows(seq_len=12, mem_freq=3, landmark=LM)
    batch = PackedCollator(12, 0, rows=rows)([{"input_ids": list(range(10, 22)), "doc_lens": [5, 7]}])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert rows.row_length == 16 and len(ids) == 16
    assert ids[:15] == [10, 11, 12, LM, 13, 14, 15, 16, 17, LM, 18, 19, 20, LM, 21]
    assert all(labels[i] == -100 for i in (3, 9, 13))  # landmarks: no loss
    assert labels[0] == labels[6] == labels[15] == -100  # each document's first token, and padding
    assert [labels[i] for i in (1, 2, 4, 7, 14)] == [11, 12, 13, 16, 21]
    assert batch["position_ids"][0].tolist()[:15] == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert batch["cu_seq_lens_q"].tolist() == [0, 6, 15, 16]


def test_with_next_token_from_text_the_token_before_a_landmark_predicts_the_text_after_it():
    rows = LandmarkRows(seq_len=12, mem_freq=3, landmark=LM, from_landmark=False)
    batch = PackedCollator(12, 0, rows=rows)([{"input_ids": list(range(10, 22)), "doc_lens": [5, 7]}])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert ids[:15] == [10, 11, 12, LM, 13, 14, 15, 16, 17, LM, 18, 19, 20, LM, 21]
    # labels[i] is position i - 1's target: 12 (position 2) predicts 13, the landmark (3) nothing
    assert [labels[i] for i in (3, 4, 9, 10, 13, 14)] == [13, -100, 18, -100, 21, -100]
    assert labels[0] == labels[6] == labels[15] == -100
    assert [labels[i] for i in (1, 2, 5, 7, 8, 11)] == [11, 12, 14, 16, 17, 19]
    # a landmark that closes its document: the token before it has nothing left to predict
    batch = PackedCollator(6, 0, rows=LandmarkRows(6, 3, LM, from_landmark=False))([{"input_ids": list(range(10, 16)),
                                                                                     "doc_lens": [3, 3]}])
    assert batch["labels"][0].tolist() == [-100, 11, 12, -100, -100, 14, 15, -100]


def test_the_token_is_added_once_with_its_rows_at_the_mean(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    model = tiny_llama(vocab_size=len(tok))
    rows = model.get_input_embeddings().weight.detach().clone()
    new = add_landmark_token(model, tok)
    assert new == len(tokenizer) and tok.convert_tokens_to_ids(LANDMARK_TOKEN) == new
    weight = model.get_input_embeddings().weight
    assert weight.shape[0] == new + 1
    torch.testing.assert_close(weight[new], rows.mean(0))
    torch.testing.assert_close(model.get_output_embeddings().weight[new], model.lm_head.weight[:new].mean(0))
    assert add_landmark_token(model, tok) == new and len(tok) == new + 1  # a second call adds nothing
    assert tok(LANDMARK_TOKEN, add_special_tokens=False)["input_ids"] == [new]


def test_retrieval_picks_the_blocks_whose_landmarks_score_highest():
    scores = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5]])
    assert select_blocks(scores, 2, blocks=5, local_blocks=0).tolist() == [[1, 3]]  # best two, in order
    # with 2 local blocks only the first three are retrievable; the local ones are always kept
    assert select_blocks(scores[:, :3], 1, blocks=5, local_blocks=2).tolist() == [[1, 3, 4]]
    tied = torch.tensor([[1.0, 1.0 + 1e-7, 1.0 - 1e-7, 1.0]])  # alike but for rounding: the most recent
    assert select_blocks(tied, 2, blocks=4, local_blocks=0).tolist() == [[2, 3]]
    assert slot_count(5, 2, 0) == 2 and slot_count(5, 1, 2) == 3 and slot_count(1, 4, 2) == 1


def test_the_retrieved_block_is_the_one_whose_landmark_matches_the_query():
    """A query pointed at one block's landmark attends to that block's values, among many."""
    torch.manual_seed(0)
    D, T, M = 8, 4, 6
    keys = torch.randn(1, 1, M, T, D) * 0.1
    values = torch.randn(1, 1, M, T, D)
    target = 2
    keys[0, 0, target, T - 1] = torch.ones(D) * 3  # its landmark
    query = torch.ones(1, 1, 1, D)
    cur_k, cur_v = torch.randn(1, 1, 1, D) * 0.1, torch.zeros(1, 1, 1, D)
    out = retrieval_attention(query, cur_k, cur_v, keys[:, :, :, T - 1], keys, values, None, 1.0, T, 1, 0)
    inner = torch.softmax(query[0, 0, 0] @ keys[0, 0, target, : T - 1].T, -1)
    lm = math.exp(float(query[0, 0, 0] @ keys[0, 0, target, T - 1]))
    top = lm / (lm + math.exp(float(query[0, 0, 0] @ cur_k[0, 0, 0])))
    torch.testing.assert_close(out[0, 0, 0], top * inner @ values[0, 0, target, : T - 1])


def test_grouped_query_heads_read_their_kv_head_without_the_cache_repeated():
    """Query head h reads kv head h // (H / Hkv), as repeat_kv lays heads out: the same result as
    with the whole cache repeated per query head, which the cache no longer is."""
    from longft.attention.segments import repeat_kv

    torch.manual_seed(0)
    B, H, Hkv, c, n, M, T, D = 1, 6, 2, 3, 3, 5, 4, 8
    query, cur_k, cur_v = torch.randn(B, H, c, D), torch.randn(B, Hkv, n, D), torch.randn(B, Hkv, n, D)
    keys, values = torch.randn(B, Hkv, M, T, D), torch.randn(B, Hkv, M, T, D)
    got = retrieval_attention(query, cur_k, cur_v, keys[:, :, :, T - 1], keys, values, None, 1.0, T, 2, 1)
    want = torch.cat([retrieval_attention(query[:, h : h + 1], cur_k[:, h // 3 : h // 3 + 1], cur_v[:, h // 3 : h // 3 + 1],
                                          keys[:, h // 3 : h // 3 + 1, :, T - 1], keys[:, h // 3 : h // 3 + 1],
                                          values[:, h // 3 : h // 3 + 1], None, 1.0, T, 2, 1) for h in range(H)], dim=1)
    torch.testing.assert_close(got, want)
    repeated = retrieval_attention(query, repeat_kv(cur_k, H), repeat_kv(cur_v, H), repeat_kv(keys[:, :, :, T - 1], H),
                                   repeat_kv(keys.flatten(3), H).unflatten(3, (T, D)),
                                   repeat_kv(values.flatten(3), H).unflatten(3, (T, D)), None, 1.0, T, 2, 1)
    torch.testing.assert_close(got, repeated)


def text_predictions(logits: torch.Tensor, ids: list[int], from_landmark: bool = True) -> torch.Tensor:
    """From a forward over text with its landmarks: each text token's next-token logits (a landmark's
    where one follows it, unless the text token's own are asked for)."""
    rows = []
    for i, t in enumerate(ids):
        if t != LM:
            after = from_landmark and i + 1 < len(ids) and ids[i + 1] == LM
            rows.append(logits[i + 1] if after else logits[i])
    return torch.stack(rows)


@pytest.mark.parametrize("local_blocks, from_landmark", [(0, True), (2, True), (0, False)])
def test_the_stream_equals_the_training_attention_when_top_k_covers_every_block(local_blocks, from_landmark):
    mem_freq = 3
    model = tiny_llama(attn=register({"mem_freq": mem_freq}), window=256)
    doc = text(41)
    ids, _, _, _ = insert_landmarks(doc, [len(doc)], [0], mem_freq, LM)
    with torch.no_grad():
        want = text_predictions(model(input_ids=torch.tensor([ids])).logits[0], ids, from_landmark)
    stream = LandmarkStream(model, mem_freq, top_k=100, local_blocks=local_blocks, landmark=LM,
                            from_landmark=from_landmark)
    got = torch.cat([stream.feed(doc[:7]), stream.feed(doc[7:8]), stream.fork().feed(doc[8:9]), stream.feed(doc[8:])])
    got = torch.cat([got[:8], got[9:]])  # the fork's row is the next one again
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_with_few_blocks_retrieved_positions_stay_inside_the_window():
    """top_k 2 of 12 blocks: the current block sits after 2 + 1 slots, whatever the length read."""
    mem_freq, seen = 3, []
    model = tiny_llama(attn=register({"mem_freq": mem_freq}), window=256)
    stream = LandmarkStream(model, mem_freq, top_k=2, local_blocks=1, landmark=LM)
    original = model.forward

    def spy(*args, **kwargs):
        seen.append(int(kwargs["position_ids"].max()))
        return original(*args, **kwargs)

    model.forward = spy
    logits = stream.feed(text(48))
    assert logits.shape == (48, 300) and torch.isfinite(logits).all()
    assert max(seen) == (2 + 1) * (mem_freq + 1) + mem_freq  # slots, then a whole current block


def test_packed_training_batch_through_the_model_matches_each_document_streamed():
    mem_freq = 3
    model = tiny_llama(attn=register({"mem_freq": mem_freq}), window=256)
    docs = [text(13, 1), text(10, 2)]
    rows = LandmarkRows(seq_len=24, mem_freq=mem_freq, landmark=LM)
    batch = PackedCollator(24, 0, rows=rows)([{"input_ids": docs[0] + docs[1] + [5], "doc_lens": [13, 10, 1]}])
    with torch.no_grad():
        packed = model(**batch).logits[0]
    ids = batch["input_ids"][0].tolist()
    first = 13 + 13 // mem_freq
    for doc, lo, hi in ((docs[0], 0, first), (docs[1], first, first + 10 + 10 // mem_freq)):
        want = text_predictions(packed[lo:hi], ids[lo:hi])
        got = LandmarkStream(model, mem_freq, top_k=100, local_blocks=0, landmark=LM).feed(doc)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"attention": {"params": {"mem_freq": 0}}}, "mem_freq = 0"),
        ({"attention": {"params": {"top_k": 0}}}, "top_k = 0"),
        ({"attention": {"params": {"top_k": 9}}}, "holds 8 blocks of 32"),
        ({"attention": {"params": {"local_window": 50}}}, "local_window = 50: a whole number of blocks"),
        ({"attention": {"params": {"cache_top_k": 5}}}, "landmark takes"),
        ({"attention": {"params": {"next_token_from": "before"}}}, "next_token_from = 'before'"),
        ({"attention": {"path": "flash"}}, "not valid for landmark"),
    ],
)
def test_bad_settings_fail_at_load(overrides, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe("tiny-landmark", overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"position": {"scheme": "randomized"}}, "position.scheme = 'randomized'"),
        ({"adapter": {"method": "lora"}}, "adapter.method = 'lora' with landmark"),
        pytest.param({"attention": {"path": "flex"}}, "flex attention has no backward pass",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="flex trains on a GPU")),
    ],
)
def test_what_landmark_cannot_take_fails_before_any_work(tmp_path, overrides, message):
    from longft.pipeline import run_recipe

    recipe = load_recipe("tiny-landmark", {"output_dir": str(tmp_path / "out"), **overrides}, smoke=True)
    with pytest.raises(RecipeError, match=message):
        run_recipe(recipe)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_export_keeps_the_token_and_plain_transformers_reads_an_ordinary_model(tmp_path, tokenizer):
    import copy

    from longft.eval.run import load_for_eval
    from longft.export import export_checkpoint
    from longft.methods.landmark.memory import LandmarkMemoryModel
    from longft.methods.registry import use_attention
    from longft.recipe.schema import AttentionConfig

    tok = copy.deepcopy(tokenizer)
    attention = AttentionConfig(method="landmark", params={"mem_freq": 3, "top_k": 2, "local_window": 4,
                                                                    "next_token_from": "text"})
    model = use_attention(tiny_llama(vocab_size=len(tok), window=256), attention, 256, tok)
    out = export_checkpoint(model, tok, tmp_path / "landmark")
    plain = AutoModelForCausalLM.from_pretrained(out)
    saved = plain.config.longft_attention
    assert saved == {"method": "landmark", "mem_freq": 3, "top_k": 2, "local_window": 4, "next_token_from": "text",
                     "landmark_id": len(tokenizer)}
    assert plain.config.vocab_size == len(tokenizer) + 1
    ids = torch.randint(0, len(tokenizer), (1, 40))
    with torch.no_grad():
        logits = plain(input_ids=ids).logits  # sdpa, no landmarks: an ordinary causal model
    assert logits.shape == (1, 40, len(tokenizer) + 1)
    loaded = load_for_eval(out)
    assert isinstance(loaded, LandmarkMemoryModel) and (loaded.mem_freq, loaded.top_k, loaded.local_blocks) == (3, 2, 1)
    assert loaded.landmark == len(tokenizer) and not loaded.from_landmark
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(out).convert_tokens_to_ids(LANDMARK_TOKEN) == len(tokenizer)
    streamed = LandmarkStream(model, 3, 2, 1, len(tokenizer), from_landmark=False).feed(ids[0].tolist())
    torch.testing.assert_close(loaded(input_ids=ids).logits[0], streamed, atol=1e-5, rtol=1e-5)
