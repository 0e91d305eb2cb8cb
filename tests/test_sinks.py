"""Attention sinks (StreamingLLM) baseline: exactly k + w cache entries, positions inside the cache."""
import torch

from longft.eval.sinks import SinkCacheStream, StreamingSinkModel
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
