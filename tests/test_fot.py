"""FoT: memory keys sit at position 0; an empty memory is ordinary attention; the cross-batch layout
is the authors' (positives, negatives, nothing later); gradients reach memory keys and values;
streaming the memory cache gives one forward's logits; causality; packed documents stay apart."""
import pytest
import torch
from transformers import AutoModelForCausalLM

from longft.methods.fot.attention import keys_at_start
from longft.attention.method import CONFIG_KEY
from longft.methods.registry import inference_model, restore_attention, use_attention
from longft.data.collator import PackedCollator
from longft.eval.run import load_for_eval
from longft.export import export_checkpoint
from longft.methods.fot.layout import CrossBatchRows, memory_rows, positives_and_negatives, reach, split_pack
from longft.methods.fot.memory import FotMemoryModel, MemoryStream
from longft.recipe.schema import AttentionConfig

from conftest import tiny_llama

W = 16  # local window of the tests' model


def fot_config(memory_layers=(1,), window=W, k=2, cross_batch=1, stepping=False):
    return AttentionConfig(method="fot", params={"memory_layers": list(memory_layers), "window": window,
                                                  "windows_per_stream": k, "cross_batch": cross_batch,
                                                  "stepping": stepping})


def fot_model(seed=0, **rope):
    model = tiny_llama(window=W, seed=seed, **rope)
    return use_attention(model, fot_config(), W)


def rotate_at(model, x, positions):
    """x (B, H, N, D) through the model's own rotary embedding at `positions` (B, N)."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    cos, sin = model.model.rotary_emb(x, positions)
    rotated, _ = apply_rotary_pos_emb(x, x, cos, sin)
    return rotated


@pytest.mark.parametrize("rope", [{}, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}])
def test_memory_keys_equal_keys_rotated_at_position_zero(rope):
    model = tiny_llama(window=64, **rope)
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(2, 2, 12, 16, generator=g)
    positions = torch.randint(0, 64, (2, 12), generator=g)
    at_start = keys_at_start(rotate_at(model, raw, positions), positions, model.config, 0)
    expected = rotate_at(model, raw, torch.zeros_like(positions))
    assert torch.allclose(at_start, expected, atol=1e-5)
    if rope:  # yarn's attention factor scales a key at position 0 too: the memory keeps it
        assert not torch.allclose(expected, raw, atol=1e-3)


class Layer:
    def __init__(self, layer_idx, config):
        self.layer_idx, self.config = layer_idx, config


def test_memory_layer_is_one_softmax_over_memory_at_position_zero_and_local_keys():
    from longft.methods.fot.attention import make_fot_attention

    model = tiny_llama(window=W)
    g = torch.Generator().manual_seed(5)
    H, D, N = 4, 16, W
    raw_q, raw_k, v = (torch.randn(2, H, N, D, generator=g) for _ in range(3))
    pos = torch.arange(N).expand(2, -1)
    q, k = rotate_at(model, raw_q, pos), rotate_at(model, raw_k, pos)
    fn = make_fot_attention([1])
    kwargs = {"fot_memory_rows": torch.tensor([[-1], [0]]), "fot_memory_valid": torch.ones(2, N, dtype=torch.bool),
              "position_ids": pos}
    out, _ = fn(Layer(1, model.config), q, k, v, None, scaling=D ** -0.5, **kwargs)
    memory_keys = rotate_at(model, raw_k[:1], pos[:1] * 0)[0]  # row 0's keys at position 0
    for t in (0, 5, N - 1):
        keys = torch.cat([memory_keys, k[1, :, : t + 1]], dim=1)
        values = torch.cat([v[0], v[1, :, : t + 1]], dim=1)
        weights = ((q[1, :, t : t + 1] @ keys.transpose(-1, -2)) * D ** -0.5).softmax(-1)
        assert torch.allclose(out[1, t], (weights @ values)[:, 0], atol=1e-5)
    plain, _ = fn(Layer(0, model.config), q, k, v, None, scaling=D ** -0.5, **kwargs)  # not a memory layer
    causal = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=D ** -0.5)
    assert torch.allclose(plain, causal.transpose(1, 2), atol=1e-5)
    assert torch.allclose(out[0], plain[0], atol=1e-5)  # row 0 has no memory


def test_empty_memory_is_ordinary_attention():
    ids = torch.randint(0, 300, (4, W))
    plain = tiny_llama(window=W)(input_ids=ids).logits
    model = fot_model()
    assert torch.allclose(model(input_ids=ids).logits, plain, atol=1e-5)
    no_rows = {"fot_memory_rows": torch.full((4, 1), -1), "fot_memory_valid": torch.ones(4, W, dtype=torch.bool)}
    assert torch.allclose(model(input_ids=ids, **no_rows).logits, plain, atol=1e-5)


def test_cross_batch_layout_is_the_authors():
    # LongLLaMA's quarter-batch mix: k = 4 windows per stream, d - 1 = 3, stepping; the first stream has
    # no earlier stream, so its rows see only their own earlier windows
    assert positives_and_negatives(8, 4, 3, True) == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 0), (1, 1), (2, 1), (3, 0)]
    # the authors' stepping example: batch 8, cross-batch range 6, k = 4
    assert [reach(r, 4, 6, True) for r in range(8)] == [0, 1, 2, 3, 0, 3, 6, 6]
    # without stepping every row reaches d - 1 rows back, as far as the batch goes
    assert memory_rows(4, 2, 2, False) == [[], [0], [1, 0], [2, 1]]
    assert positives_and_negatives(4, 2, 2, False) == [(0, 0), (1, 0), (0, 2), (1, 1)]
    for rows, k, d, stepping in [(8, 4, 3, True), (16, 4, 7, False), (12, 3, 11, True), (6, 1, 2, False)]:
        for r, seen in enumerate(memory_rows(rows, k, d, stepping)):
            assert all(s < r for s in seen), "a row sees a row after it"
            assert seen == sorted(seen, reverse=True) and len(seen) <= d


def test_packs_split_into_rows_with_their_documents():
    feature = {"input_ids": list(range(40)), "doc_lens": [10, 25, 5], "doc_masked": [0, 12, 0]}
    rows = split_pack(feature, 16, 3)
    assert [r["input_ids"] for r in rows] == [list(range(16)), list(range(16, 32)), list(range(32, 40))]
    assert [r["doc_lens"] for r in rows] == [[10, 6], [16], [3, 5]]
    assert [r["doc_masked"] for r in rows] == [[0, 6], [6], [0, 0]]  # a prompt cut at the edge stays masked
    batch = PackedCollator(48, 0, rows=CrossBatchRows(16, 3, 2, False))([feature])
    assert batch["input_ids"].shape == (3, 16)
    assert batch["fot_memory_rows"].tolist() == [[-1, -1], [0, -1], [1, 0]]
    assert batch["fot_memory_valid"].sum(1).tolist() == [16, 16, 8]  # padding is never memory
    assert batch["position_ids"][1].tolist() == list(range(16))  # a continued document restarts at the window


def cross_batch_inputs(rows, memory):
    n = rows.shape[0]
    table = torch.full((n, max(1, max(len(m) for m in memory))), -1)
    for r, m in enumerate(memory):
        table[r, : len(m)] = torch.tensor(m, dtype=torch.long)
    return {"input_ids": rows, "fot_memory_rows": table, "fot_memory_valid": torch.ones(n, W, dtype=torch.bool),
            "position_ids": torch.arange(W).expand(n, -1)}


def test_gradients_reach_memory_keys_and_values():
    model = fot_model().train()
    rows = torch.randint(0, 300, (2, W))
    embeds = model.get_input_embeddings()(rows).detach().requires_grad_(True)
    inputs = cross_batch_inputs(rows, [[], [0]])
    del inputs["input_ids"]
    model(inputs_embeds=embeds, **inputs).logits[1].sum().backward()
    assert embeds.grad[0].abs().sum() > 0  # row 1's loss moves row 0 through the memory layer's keys and values
    k_proj = model.model.layers[1].self_attn.k_proj.weight
    assert k_proj.grad is not None and k_proj.grad.abs().sum() > 0
    control = embeds.detach().clone().requires_grad_(True)
    model(inputs_embeds=control, **cross_batch_inputs(rows, [[], []]) | {"input_ids": None}).logits[1].sum().backward()
    assert control.grad[0].abs().sum() == 0  # without memory, rows are independent


def test_streaming_the_memory_cache_gives_one_forwards_logits():
    model = fot_model(seed=3)
    windows = torch.randint(0, 300, (3, W))
    one_pass = model(**cross_batch_inputs(windows, [[], [0], [1, 0]])).logits
    stream = MemoryStream(model, W, [1], last_context_length=W)
    streamed = stream.feed(windows.flatten().tolist())
    assert torch.allclose(streamed.view(3, W, -1), one_pass, atol=1e-4)
    assert stream.memory.size() == 2 * W  # two finished windows; the third is local
    # token by token through the same cache gives the same again
    by_token = MemoryStream(model, W, [1], last_context_length=W)
    logits = torch.cat([by_token.feed([t]) for t in windows.flatten().tolist()])
    assert torch.allclose(logits.view(3, W, -1), one_pass, atol=1e-4)


def test_a_long_read_ends_in_a_window_of_its_last_tokens():
    """LongLLaMA's last_context_length: a read past the window keeps its last tokens in a fresh local
    window (the one before it partial), so what follows continues that window instead of an empty
    one. Its logits are one forward's over those rows, each seeing the earlier ones as memory."""
    model = fot_model(seed=5)
    last = W // 4
    ids = torch.randint(0, 300, (3 * W,), generator=torch.Generator().manual_seed(5)).tolist()
    split = 3 * W - last
    stream = MemoryStream(model, W, [1], last_context_length=last)
    streamed = stream.feed(ids)
    assert stream.local_length() == last and stream.memory.size() == split

    pieces = [ids[:W], ids[W : 2 * W], ids[2 * W : split], ids[split:]]
    rows = torch.zeros(4, W, dtype=torch.long)
    inputs = cross_batch_inputs(rows, [[], [0], [1, 0], [2, 1, 0]])
    for r, piece in enumerate(pieces):
        rows[r, : len(piece)] = torch.tensor(piece)
        inputs["fot_memory_valid"][r, len(piece) :] = False  # padding is never memory
    one_pass = model(**inputs).logits
    expected = torch.cat([one_pass[r, : len(piece)] for r, piece in enumerate(pieces)])
    assert torch.allclose(streamed, expected, atol=1e-4)

    stream.feed([7])  # generation goes on in the same window: nothing moves to memory yet
    assert stream.local_length() == last + 1 and stream.memory.size() == split
    from_start = MemoryStream(model, W, [1], last_context_length=W)  # windows from the start only
    from_start.feed(ids)
    assert from_start.local_length() == W
    from_start.feed([7])
    assert from_start.local_length() == 1  # the window was full: the next token starts an empty one


@pytest.mark.parametrize("last", [0, W + 1, "half"])
def test_bad_last_context_length_is_refused(last):
    from longft.methods.fot.attention import validate
    from longft.errors import RecipeError

    config = fot_config()
    config.params["last_context_length"] = last
    with pytest.raises(RecipeError, match=rf"last_context_length = {last!r}: .* from 1 to the window \({W}\)"):
        validate(config, 2 * W, None)


def test_memory_layers_are_causal_and_rows_never_see_later_rows():
    model = fot_model(seed=1)
    windows = torch.randint(0, 300, (3, W))
    memory = [[], [0], [1, 0]]
    ref = model(**cross_batch_inputs(windows, memory)).logits
    changed = windows.clone()
    changed[1, 9:] = (changed[1, 9:] + 1) % 300
    out = model(**cross_batch_inputs(changed, memory)).logits
    assert torch.allclose(out[0], ref[0], atol=1e-6)  # row 0 never sees row 1
    assert torch.allclose(out[1, :9], ref[1, :9], atol=1e-6)  # inside a row, causal
    assert not torch.allclose(out[2], ref[2], atol=1e-4)  # row 2 reads row 1 from memory


def test_non_memory_layers_see_only_the_local_window():
    model = fot_model(seed=2)
    windows = torch.randint(0, 300, (2, W))
    with_memory = cross_batch_inputs(windows, [[], [0]])
    hidden = model(**with_memory, output_hidden_states=True).hidden_states
    alone = model(input_ids=windows[1:], output_hidden_states=True).hidden_states
    # layer 0 is not a memory layer: its output for row 1 ignores row 0; layer 1's does not
    assert torch.allclose(hidden[1][1], alone[1][0], atol=1e-5)
    assert not torch.allclose(hidden[2][1], alone[2][0], atol=1e-4)


def test_packed_documents_stay_apart_inside_a_row():
    """Invariant 2 where packing applies: with no memory rows (d = 1) a packed batch's loss is the
    token-weighted loss of its documents run one by one; the local part of every layer, memory
    layers included, keeps a row's documents apart. Only the memory shows other rows, by design."""
    model = fot_model(seed=4)
    docs = [torch.randint(1, 300, (n,)).tolist() for n in (7, 9, 12, 4)]  # rows of 7 + 9 and 12 + 4
    feature = {"input_ids": sum(docs, []), "doc_lens": [len(d) for d in docs]}
    batch = PackedCollator(2 * W, 0, rows=CrossBatchRows(W, 2, 0, False))([feature])
    total, count = 0.0, 0
    with torch.no_grad():
        for d in docs:
            ids = torch.tensor([d])
            total += float(model(input_ids=ids, labels=ids).loss) * (len(d) - 1)
            count += len(d) - 1
        assert abs(float(model(**batch).loss) - total / count) < 1e-5
        # with memory the second row's documents read the first row: the loss changes
        memory = PackedCollator(2 * W, 0, rows=CrossBatchRows(W, 2, 1, False))([feature])
        assert abs(float(model(**memory).loss) - total / count) > 1e-4


def test_export_records_memory_and_loads_plainly(tmp_path, tokenizer):
    model = use_attention(tiny_llama(vocab_size=len(tokenizer), window=W), fot_config(), W)
    out = export_checkpoint(model, tokenizer, tmp_path / "fot")
    plain = AutoModelForCausalLM.from_pretrained(out)  # an ordinary checkpoint: FoT adds no weights
    assert getattr(plain.config, CONFIG_KEY) == {"method": "fot", "memory_layers": [1], "window": W,
                                                 "last_context_length": W // 2}
    ids = torch.randint(0, len(tokenizer), (1, W))
    assert torch.allclose(plain(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
    loaded = load_for_eval(out)
    assert isinstance(loaded, FotMemoryModel) and loaded.window == W and loaded.last_context_length == W // 2
    long = torch.randint(0, len(tokenizer), (1, 5 * W))
    assert loaded(input_ids=long).logits.shape == (1, 5 * W, len(tokenizer))
    assert inference_model(restore_attention(plain)).__class__ is FotMemoryModel
