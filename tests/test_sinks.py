"""Attention sinks (StreamingLLM) baseline: exactly k + w cache entries, positions inside the cache."""
import pytest
import torch

from longft.methods.sinks.stream import SinkCacheStream, StreamingSinkModel
from tests.conftest import tiny_llama


def one_layer():
    model = tiny_llama(window=64)
    model.config.num_hidden_layers = 1
    model.model.layers = model.model.layers[:1]
    return model.eval()


def test_cache_keeps_exactly_sinks_plus_window_entries():
    stream = SinkCacheStream(tiny_llama(window=64).eval(), sinks=4, window=12)
    stream.feed(list(range(3, 40)))
    assert stream.size() == 16
    assert all(layer.keys.shape[2] == 16 for layer in stream.cache.layers)


def test_streaming_equals_the_cache_contents_read_at_their_slots():
    """With one layer a cached key depends on its token alone, so the prediction at token t must equal a
    plain forward over [sinks] + [the last window - 1 tokens] + [t] at positions 0 .. k + w - 1."""
    model, k, w = one_layer(), 4, 12
    ids = torch.randint(3, 300, (40,), generator=torch.Generator().manual_seed(0)).tolist()
    streamed = SinkCacheStream(model, k, w).feed(ids)
    with torch.no_grad():
        for t in (k + w, 25, 39):
            window = ids[:k] + ids[t - w + 1 : t + 1]
            direct = model(input_ids=torch.tensor([window])).logits[0, -1]
            assert torch.allclose(streamed[t], direct, atol=1e-4), t
        # inside the cache's capacity nothing is evicted: the plain model's logits
        assert torch.allclose(streamed[: k + w], model(input_ids=torch.tensor([ids[: k + w]])).logits[0], atol=1e-4)


def test_wrapper_generates_from_the_stream():
    model = tiny_llama(window=64).eval()
    wrapped = StreamingSinkModel(model, sinks=4, window=60)
    ids = torch.randint(3, 300, (1, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert torch.equal(wrapped.generate(ids, max_new_tokens=5), plain)  # short prompts: nothing evicted


def sink_attention_model(k, w, **kwargs):
    from longft.methods.sinks.attention import register

    model = tiny_llama(window=64, **kwargs)
    model.set_attn_implementation(register({"sinks": k, "window": w}))
    return model.eval()


@pytest.mark.parametrize("chunk", [1024, 7])
def test_parallel_sinks_equal_the_token_by_token_cache(monkeypatch, chunk):
    """One forward of the sink attention gives the logits the bounded cache gives token by token,
    well past its capacity, with queries scored in one chunk or in chunks that cut the band."""
    from longft.methods.sinks import attention

    monkeypatch.setattr(attention, "QUERY_CHUNK", chunk)
    k, w = 4, 12
    ids = torch.randint(3, 300, (70,), generator=torch.Generator().manual_seed(2)).tolist()
    streamed = SinkCacheStream(tiny_llama(window=64).eval(), k, w).feed(ids)
    with torch.no_grad():
        parallel = sink_attention_model(k, w)(input_ids=torch.tensor([ids])).logits[0]
    assert torch.allclose(parallel, streamed, atol=1e-4)


def test_parallel_sinks_need_the_sinks_moved_to_the_query_slot(monkeypatch):
    """Without rotating the query back for the sink scores (sinks at their true distance), the
    logits past the cache's capacity are not the cache's: the equality above tests the re-positioning."""
    from longft.methods.sinks import attention

    monkeypatch.setattr(attention, "rotate_back", lambda x, steps, rotary: x)
    k, w = 4, 12
    ids = torch.randint(3, 300, (70,), generator=torch.Generator().manual_seed(2)).tolist()
    streamed = SinkCacheStream(tiny_llama(window=64).eval(), k, w).feed(ids)
    with torch.no_grad():
        parallel = sink_attention_model(k, w)(input_ids=torch.tensor([ids])).logits[0]
    assert torch.allclose(parallel[: k + w], streamed[: k + w], atol=1e-4)  # inside capacity: nothing moves
    assert not torch.allclose(parallel[k + w :], streamed[k + w :], atol=1e-3)


def test_parallel_sinks_keep_packed_documents_apart():
    """Packed documents each get their own sinks and window: the same logits as each read alone."""
    from longft.attention.boundaries import cu_seq_lens_from_doc_lens

    model, lengths = sink_attention_model(3, 8), [30, 25]
    ids = torch.randint(3, 300, (1, sum(lengths)), generator=torch.Generator().manual_seed(3))
    pos = torch.cat([torch.arange(n) for n in lengths])[None]
    cu = cu_seq_lens_from_doc_lens([lengths])
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos, cu_seq_lens_q=cu, cu_seq_lens_k=cu,
                       max_length_q=max(lengths), max_length_k=max(lengths)).logits[0]
        alone = torch.cat([model(input_ids=part).logits[0] for part in ids.split(lengths, dim=1)])
    assert torch.allclose(packed, alone, atol=1e-4)


def test_parallel_sinks_generate_as_the_stream_does():
    """Generation from an ordinary KV cache with the sink attention continues as the bounded cache does."""
    k, w = 4, 12
    ids = torch.randint(3, 300, (1, 30), generator=torch.Generator().manual_seed(4))
    streamed = StreamingSinkModel(tiny_llama(window=64).eval(), sinks=k, window=w).generate(ids, max_new_tokens=6)
    with torch.no_grad():
        parallel = sink_attention_model(k, w).generate(ids, max_new_tokens=6, do_sample=False)
    assert torch.equal(parallel, streamed)


def test_zero_shot_sinks_baseline_reads_the_base_in_one_forward(tmp_path):
    """`eval.zero_shot_baselines: [sinks]` loads the base with the parallel sink attention (4 sinks,
    the rest of the original window recent): the stream's logits, from an ordinary model call."""
    from longft.eval.run import zero_shot_model

    base = tiny_llama(window=64)
    base.save_pretrained(tmp_path)
    model, label = zero_shot_model(str(tmp_path), "sinks", 16, 64)
    assert label == "base + attention sinks (4 + 12)"
    ids = torch.randint(3, 300, (1, 50), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    assert torch.allclose(logits, SinkCacheStream(base.eval(), 4, 12).feed(ids[0].tolist()), atol=1e-4)


@pytest.mark.parametrize("params, match", [({"window": 0}, "window = 0"), ({"sinks": -1, "window": 8}, "sinks = -1"),
                                           ({"window": 8, "recent": 3}, "recent")])
def test_bad_sink_settings_fail_naming_the_value(params, match):
    from longft.errors import RecipeError
    from longft.validation import load_recipe

    with pytest.raises(RecipeError, match=match):
        load_recipe("tiny-yarn-4x", {"attention": {"method": "sinks", "params": params}})


@pytest.mark.parametrize("band", [None, 5])
def test_fused_sink_attention_equals_the_written_out_scores(monkeypatch, band):
    """The fused path (sinks as zero keys scored through the additive mask, one SDPA call a chunk)
    gives the weights of the written-out scores that soft-capped layers take, in chunks that cut
    the band and with a layer's own narrower window."""
    from longft.attention.rope_angles import layer_rotary
    from longft.methods.sinks import attention

    monkeypatch.setattr(attention, "QUERY_CHUNK", 7)
    config = tiny_llama(window=64).config
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(2, 4, 40, 16, generator=g) for _ in range(3))
    args = (3, 9, layer_rotary(config, 0, q.device), 0.25)
    fused = attention.sink_attention_one_sequence(q, k, v, *args, band=band)
    written = attention._sink_attention_explicit(q, k, v, *args, None, band)
    assert torch.allclose(fused, written, atol=1e-5)


def test_in_bf16_inside_the_window_sink_attention_is_the_models_own_attention():
    """Where nothing is evicted the sinks change nothing, and in bf16 too: their scores are taken in
    fp32 as the attention kernel takes the others' (a bf16-rounded sink score, on the tokens that draw
    the most weight, moved the outputs by 0.1 and SmolLM2's perplexity by 0.5% inside its window)."""
    from longft.attention.rope_angles import layer_rotary
    from longft.methods.sinks.attention import sink_attention_one_sequence

    config = tiny_llama(window=1024).config
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, 4, 600, 16, generator=g) * s for s in (6.0, 6.0, 1.0))
    q, k, v = (x.bfloat16() for x in (q, k, v))
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    sinks = sink_attention_one_sequence(q, k, v, 4, 2000, layer_rotary(config, 0, q.device), 16 ** -0.5)
    torch.testing.assert_close(sinks.float(), plain.float(), atol=1e-2, rtol=0)


def test_a_kernel_that_takes_the_mask_only_in_bf16_gets_the_chunk_in_fp32():
    """The CUDA route's CPU twin: where a kernel takes the additive mask only in the queries' dtype,
    a bf16 chunk goes through it in fp32, and gives what the CPU kernel gives with the fp32 mask
    beside bf16 queries; the mask cast to bf16 instead rounds the sink scores, and lands further off."""
    from longft.methods.sinks.attention import _chunk_attention

    g = torch.Generator().manual_seed(8)
    q, k, v = (torch.randn(1, 4, 64, 16, generator=g) * s for s in (6.0, 6.0, 1.0))
    sink_scores = torch.randn(1, 4, 64, 4, generator=g) * 12 + 30  # sinks draw most of the weight
    mask = torch.cat([sink_scores, torch.zeros(64, 64).masked_fill(~torch.ones(64, 64).tril().bool(),
                                                                   float("-inf")).expand(1, 4, 64, 64)], dim=-1)
    keys = torch.cat([torch.zeros(1, 4, 4, 16), k], dim=2)
    values = torch.cat([torch.randn(1, 4, 4, 16, generator=g), v], dim=2)
    q16, k16, v16 = (x.bfloat16() for x in (q, keys, values))
    exact = _chunk_attention(q16.float(), k16.float(), v16.float(), mask, 0.25, True)  # the bf16 inputs in fp32
    cpu = _chunk_attention(q16, k16, v16, mask, 0.25, True).float()
    cuda_route = _chunk_attention(q16, k16, v16, mask, 0.25, False).float()
    rounded = _chunk_attention(q16, k16, v16, mask.bfloat16(), 0.25, True).float()
    torch.testing.assert_close(cpu, exact, atol=1e-2, rtol=0)  # bf16 outputs' own rounding
    torch.testing.assert_close(cuda_route, exact, atol=1e-2, rtol=0)
    assert (rounded - exact).abs().max() > 4 * (cuda_route - exact).abs().max()
