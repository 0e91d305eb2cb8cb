"""log-n equals its formula; window and hybrid are causal and see exactly what they define; all three
keep packed documents apart and survive export through longft's loader."""
import math

import pytest
import torch

from longft.methods.logn import attention as logn
from longft.methods.window import attention as window
from longft.methods.registry import ATTENTION_METHODS, restore_attention, use_attention
from longft.data.collator import PackedCollator
from longft.errors import RecipeError
from longft.validation import load_recipe
from longft.recipe.schema import AttentionConfig


def qkv(seed=0, B=1, H=2, N=24, D=8):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, N, D, generator=g) for _ in range(3)]


def test_logn_scales_each_query_by_its_formula():
    q, k, v = qkv()
    base, N = 8, q.shape[2]
    out, _ = logn.make_logn_attention(base)(None, q, k, v, None, position_ids=torch.arange(N)[None])
    expected = torch.zeros_like(q)
    for t in range(N):
        factor = max(1.0, math.log(t + 1) / math.log(base))
        scores = (q[:, :, t : t + 1] @ k[:, :, : t + 1].transpose(-1, -2)) * factor / math.sqrt(q.shape[-1])
        expected[:, :, t] = (scores.softmax(-1) @ v[:, :, : t + 1]).squeeze(2)
    assert torch.allclose(out.transpose(1, 2), expected, atol=1e-5)
    # inside the trained length the factor is 1: plain causal attention
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(out.transpose(1, 2)[:, :, :base], plain[:, :, :base], atol=1e-6)


def outputs_with_changed_key(fn, t, changed):
    q, k, v = qkv(seed=1)
    pos = torch.arange(q.shape[2])[None]
    ref, _ = fn(None, q, k, v, None, position_ids=pos)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, changed] += 1.0
    v2[:, :, changed] += 1.0
    out, _ = fn(None, q, k2, v2, None, position_ids=pos)
    return not torch.allclose(out[:, t], ref[:, t], atol=1e-6)


class Layer:
    """What the attention functions read from transformers' attention module."""

    def __init__(self, layer_idx, layers, config):
        self.layer_idx, self.config = layer_idx, config
        self.config.num_hidden_layers = layers


def small_config():
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=16, num_attention_heads=2, num_key_value_heads=2, num_hidden_layers=2,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


@pytest.mark.parametrize("w", [1, 4, 7])
def test_window_sees_exactly_w_tokens_and_nothing_after(w):
    fn = window.make_window_attention(w)
    layer = Layer(0, 2, small_config())
    call = lambda m, q, k, v, mask, **kw: fn(layer, q, k, v, mask, **kw)  # noqa: E731
    t = 15
    for j in range(24):
        sees = outputs_with_changed_key(call, t, j)
        assert sees == (t - w < j <= t), (w, j)


def test_hybrid_last_layer_sees_everything_before_it_and_unrotates():
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = small_config()
    fn = window.make_window_attention(4, full_layers=1, logn_base=8)
    last, first = Layer(1, 2, config), Layer(0, 2, config)
    t = 15
    assert all(outputs_with_changed_key(lambda m, q, k, v, mask, **kw: fn(last, q, k, v, mask, **kw), t, j) for j in range(t + 1))
    assert not outputs_with_changed_key(lambda m, q, k, v, mask, **kw: fn(last, q, k, v, mask, **kw), t, t + 1)
    assert not outputs_with_changed_key(lambda m, q, k, v, mask, **kw: fn(first, q, k, v, mask, **kw), t, 3)
    # the rotation undone is exactly the one the model applies
    x = torch.randn(1, 2, 10, 8)
    pos = torch.arange(10)[None] * 3
    cos, sin = LlamaRotaryEmbedding(config)(x, pos)
    rotated, _ = apply_rotary_pos_emb(x, x, cos, sin)
    assert torch.allclose(window.unrotate(rotated, pos, config, 0), x, atol=1e-5)


METHODS = {
    "logn": {"base": 8},
    "window": {"window": 5},
    "hybrid": {"window": 5, "full_layers": 1, "logn_base": 8},
    "sinks": {"sinks": 2, "window": 3},
}
DOCS = [[7, 8, 9, 10, 11, 12, 13], [20, 21, 22, 23, 24, 25, 26, 27], [40, 41, 42, 43], [50, 51, 52, 53, 54, 55]]


@pytest.mark.parametrize("method", list(METHODS))
def test_packed_loss_equals_documents_alone(make_model, method):
    attention = AttentionConfig(method=method, params=METHODS[method])
    model = use_attention(make_model(attn="sdpa"), attention, 8)
    batch = PackedCollator(32, 0)([{"input_ids": DOCS[0] + DOCS[1], "doc_lens": [7, 8]},
                                   {"input_ids": DOCS[2] + DOCS[3], "doc_lens": [4, 6]}])
    with torch.no_grad():
        packed = model(**batch).loss.item()
        total = count = 0
        for doc in DOCS:
            ids = torch.tensor([doc])
            total += model(input_ids=ids, labels=ids).loss.item() * (len(doc) - 1)
            count += len(doc) - 1
        plain = make_model(attn="sdpa")(**batch).loss.item()
    assert packed == pytest.approx(total / count, rel=1e-5)
    assert packed != pytest.approx(plain, rel=1e-4)  # the method changes what the model computes


@pytest.mark.parametrize("method", list(METHODS))
def test_export_records_the_method_and_longft_restores_it(make_model, tokenizer, method, tmp_path):
    from transformers import AutoModelForCausalLM

    from longft.eval.run import load_for_eval
    from longft.export import export_checkpoint

    model = use_attention(make_model(vocab_size=len(tokenizer), attn="sdpa"), AttentionConfig(method=method, params=METHODS[method]), 8)
    out = export_checkpoint(model, tokenizer, tmp_path / "export")
    ids = torch.randint(3, 300, (1, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        trained = model(input_ids=ids).logits
        restored = load_for_eval(out)(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(str(out))(input_ids=ids).logits
    assert torch.allclose(trained, restored, atol=1e-5)
    assert not torch.allclose(trained, plain, atol=1e-4)  # without longft: plain (unscaled) attention


BAD = [
    ({"attention": {"method": "window", "params": {"window": 4096}}}, "larger than the sequence"),
    ({"attention": {"method": "window", "params": {}}}, "needs a window"),
    ({"attention": {"method": "hybrid", "params": {"window": 64, "full_layers": 0}}}, ">= 1 full layer"),
    ({"attention": {"method": "logn", "params": {"base": 1}}}, "integer >= 2"),
    ({"attention": {"method": "logn", "params": {"scale": 2}}}, "takes ['base']"),
    ({"attention": {"method": "logn"}, "position": {"original_max_position_embeddings": None}}, "needs the trained length"),
    ({"attention": {"method": "fot", "params": {"memory_layers": [1], "window": 256, "slots": 2}}}, "fot takes"),
    ({"attention": {"method": "fot", "params": {"memory_layers": [], "window": 256}}}, "memory_layers = []"),
    ({"attention": {"method": "fot", "params": {"memory_layers": [1], "window": 256}}}, "set data.seq_len to 256"),
    ({"attention": {"method": "fot", "params": {"memory_layers": [1], "window": 256, "windows_per_stream": 4,
                                                "cross_batch": -1}}}, "cross_batch = -1"),
]


@pytest.mark.parametrize("overrides,message", BAD)
def test_bad_attention_settings_fail_at_load(overrides, message):
    with pytest.raises(RecipeError) as err:
        load_recipe("tiny-yarn-4x", overrides)
    assert message in str(err.value)


def test_every_registered_method_has_a_test():
    # full and S²-Attn: test_packing_isolation.py, test_s2attn.py; FoT: test_fot.py; landmark:
    # test_landmark.py, test_landmark_inference.py
    assert set(ATTENTION_METHODS) == {"full", "s2", "fot", "landmark", *METHODS}
