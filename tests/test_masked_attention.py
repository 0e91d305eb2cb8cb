"""The shared masked attention: where the pairs are only causal it hands SDPA no mask (its causal
rule and its GQA instead), and that gives what the written-out mask gives."""
import math

import pytest
import torch

from longft.attention.masked import allowed_pairs, attend, mask_unless_causal
from longft.methods.logn import attention as logn


def qkv(q_len, kv_len, heads=6, kv_heads=2, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, heads, q_len, dim, generator=g), torch.randn(2, kv_heads, kv_len, dim, generator=g),
            torch.randn(2, kv_heads, kv_len, dim, generator=g))


@pytest.mark.parametrize("q_len,kv_len", [(16, 16), (1, 16), (1, 1)])
def test_no_mask_where_causal_says_it(q_len, kv_len):
    assert mask_unless_causal(2, q_len, kv_len, "cpu", {}) is None


@pytest.mark.parametrize("q_len,kv_len,kwargs,window", [
    (16, 16, {"cu_seq_lens_q": torch.tensor([0, 5, 16, 32], dtype=torch.int32)}, None),  # packed documents
    (16, 16, {}, 4),  # a method's window
    (16, 16, {"sliding_window": 4}, None),  # the layer's own window
    (1, 16, {}, 4),  # decoding inside a window
    (4, 16, {}, None),  # a chunk of queries after a cache: SDPA's causal rule would align it top-left
])
def test_mask_kept_where_causal_is_not_enough(q_len, kv_len, kwargs, window):
    mask = mask_unless_causal(2, q_len, kv_len, "cpu", kwargs, window)
    assert torch.equal(mask, allowed_pairs(2, q_len, kv_len, "cpu", kwargs, window))


@pytest.mark.parametrize("q_len,kv_len", [(16, 16), (1, 16)])
@pytest.mark.parametrize("softcap", [None, 2.0])
def test_causal_attention_equals_the_written_out_mask(q_len, kv_len, softcap):
    q, k, v = qkv(q_len, kv_len)
    scale = torch.linspace(1.0, 1.5, q_len).expand(2, -1)
    written = attend(q, k, v, allowed_pairs(2, q_len, kv_len, "cpu", {}), 0.3, scale, softcap)
    causal = attend(q, k, v, None, 0.3, scale, softcap)
    assert torch.allclose(causal, written, atol=1e-6)


def test_logn_decoding_a_token_equals_its_row_of_the_whole_sequence():
    q, k, v = qkv(12, 12, seed=3)
    fn, base = logn.make_logn_attention(4), 4
    whole, _ = fn(None, q, k, v, None, position_ids=torch.arange(12)[None])
    last, _ = fn(None, q[:, :, -1:], k, v, None, position_ids=torch.tensor([[11]]))
    assert torch.allclose(last[:, 0], whole[:, -1], atol=1e-6)
    # and that row is log-n's formula: logits x log(12) / log(4), over every key, KV heads grouped
    kr, vr = (x.repeat_interleave(3, dim=1) for x in (k, v))
    scores = q[:, :, -1:] @ kr.transpose(-1, -2) * (math.log(12) / math.log(base)) / math.sqrt(8)
    assert torch.allclose(last, (scores.softmax(-1) @ vr).transpose(1, 2), atol=1e-5)
