"""Full causal attention that keeps packed documents apart, from the batch's explicit boundaries.

Paths with one meaning (causal, never across a document boundary):
- `dense`: SDPA with a (B, 1, N, N) boolean mask — one fused call, N² memory: short lengths only;
- `segments`: per-document SDPA, documents of one length in one call — memory linear in N;
- `eager`: the same mask with softmax written out (the reference the others are tested against);
- `flex`: flex attention with a BlockMask built from document ids ((N/128)² blocks);
- `flash`: flash-attn varlen on `cu_seq_lens` (GPU only; its CPU twin is `segments`).
`path: auto` takes flash where it runs, else whichever of dense and segments costs less for the
batch's document lengths (attention/path_cost.py), dense only up to `dense_mask_max_tokens`. A layer with a window of its own (`sliding_window`) or a logit soft cap (Gemma 2) takes the
`masked` path instead: the same pairs within its window, the cap applied, N² memory. Without
boundaries in the batch (evaluation, generation with a cache) it is transformers' own SDPA (for a soft cap,
which SDPA has not, the scores written out over the same mask), so an exported model behaves as it did
in training.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import RecipeError
from .boundaries import cu_seq_lens, dense_document_mask, document_ids, document_starts
from .masked import allowed_pairs, attend
from .method import AttentionMethod
from .path_cost import cheaper_path
from .segments import repeat_kv, sdpa_in_segments

NAME = "longft_full"
PATH_CHOICES = ("auto", "sdpa", "dense", "segments", "eager", "flex", "flash")


def dense_path(q, k, v, starts, scale, cu):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=dense_document_mask(starts), scale=scale)


def eager_path(q, k, v, starts, scale, cu):
    scale = scale if scale is not None else q.shape[-1] ** -0.5
    scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~dense_document_mask(starts), float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v


def segments_path(q, k, v, starts, scale, cu):
    return sdpa_in_segments(q, k, v, starts, scale)


def flex_path(q, k, v, starts, scale, cu):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    B, H, N, _ = q.shape
    ids = document_ids(starts)

    def mask_mod(b, h, qi, ki):
        return (ids[b, qi] == ids[b, ki]) & (ki <= qi)

    block = create_block_mask(mask_mod, B, None, N, N, device=q.device)
    return flex_attention(q, k, v, block_mask=block, scale=scale)


def flash_path(q, k, v, starts, scale, cu):
    from flash_attn import flash_attn_varlen_func

    B, H, N, D = q.shape
    cu = cu.to(device=q.device, dtype=torch.int32)
    longest = int((cu[1:] - cu[:-1]).max())
    flat = [x.transpose(1, 2).reshape(B * N, H, D) for x in (q, k, v)]
    out = flash_attn_varlen_func(*flat, cu, cu, longest, longest, softmax_scale=scale, causal=True)
    return out.view(B, N, H, D).transpose(1, 2)


PATHS = {"dense": dense_path, "segments": segments_path, "eager": eager_path, "flex": flex_path, "flash": flash_path}


def flash_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def check_path(path: str) -> None:
    if path not in PATH_CHOICES:
        raise RecipeError(f"attention.path = {path!r} is not valid for full attention; valid paths: {', '.join(PATH_CHOICES)}")
    if path == "flash" and not flash_available():
        raise RecipeError("attention.path = 'flash' needs flash-attn and a CUDA GPU (pip install flash-attn)")


def choose_path(path: str, n: int, on_cuda: bool, dense_mask_max_tokens: int, cu: torch.Tensor,
                batch: int, heads: int, head_dim: int) -> str:
    if path == "auto" and on_cuda and flash_available():
        return "flash"
    if path in ("auto", "sdpa"):
        return cheaper_path(cu, batch, n, heads, head_dim, dense_mask_max_tokens)
    return path


def make_full_attention(path: str = "auto", dense_mask_max_tokens: int = 8192, log=print):
    check_path(path)
    announced: set = set()
    # every layer of one forward gets the same cu_seq_lens tensor: its path is costed once (the
    # reference held here keeps that tensor alive, so `is` cannot match a newer one)
    last: dict = {"key": None, "chosen": None}

    def full_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        cu = cu_seq_lens(kwargs)
        if cu is None:
            if kwargs.get("softcap"):  # SDPA has no soft cap: the scores written out, over the same mask
                B, _, q_len, _ = query.shape
                allowed = attention_mask if attention_mask is not None else allowed_pairs(
                    B, q_len, key.shape[2], query.device, kwargs)
                return attend(query, key, value, allowed, scaling, softcap=kwargs["softcap"]), None
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
        B, H, N, D = query.shape
        if kwargs.get("sliding_window") or kwargs.get("softcap"):
            if ("masked", N) not in announced:
                announced.add(("masked", N))
                log(f"[attention] packed batches of {N} tokens: layers with their own window or soft cap "
                    "on the 'masked' path", flush=True)
            allowed = allowed_pairs(B, N, N, query.device, kwargs)
            return attend(query, key, value, allowed, scaling, softcap=kwargs.get("softcap")), None
        key_now = (cu, B, N, H, D)
        if last["key"] is not None and last["key"][0] is cu and last["key"][1:] == key_now[1:]:
            chosen = last["chosen"]
        else:
            chosen = choose_path(path, N, query.is_cuda, dense_mask_max_tokens, cu, B, H, D)
            last.update(key=key_now, chosen=chosen)
        if (chosen, N) not in announced:
            announced.add((chosen, N))
            log(f"[attention] packed batches of {N} tokens: full attention on the {chosen!r} path", flush=True)
        key, value = repeat_kv(key, H), repeat_kv(value, H)
        starts = document_starts(cu, B, N, query.device)
        out = PATHS[chosen](query, key, value, starts, scaling, cu)
        return out.transpose(1, 2).contiguous(), None

    return full_attention


def mask_or_none(batch_size, q_length, kv_length, attention_mask=None, mask_function=None, **kwargs):
    """No mask for a batch that carries its own boundaries (the attention function builds them);
    transformers' SDPA mask for anything else (padding, a cache, a caller's own packing)."""
    from transformers.masking_utils import causal_mask_function, sdpa_mask

    plain = mask_function is None or mask_function is causal_mask_function
    no_padding = attention_mask is None or bool(attention_mask.all())
    if plain and no_padding and q_length == kv_length:
        return None
    return sdpa_mask(batch_size=batch_size, q_length=q_length, kv_length=kv_length, attention_mask=attention_mask,
                     mask_function=mask_function or causal_mask_function, **kwargs)


def register_full_attention(path: str = "auto", dense_mask_max_tokens: int = 8192) -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, make_full_attention(path, dense_mask_max_tokens))
    AttentionMaskInterface.register(NAME, mask_or_none)
    return NAME


def validate(attention, seq_len: int, window=None) -> None:
    if attention.path not in PATH_CHOICES:
        raise RecipeError(f"attention.path = {attention.path!r} is not valid for full attention; "
                          f"valid paths: {', '.join(PATH_CHOICES)}")


# Full attention's registry entry: training and inference alike, with the recipe's kernel path.
ENTRY = AttentionMethod(
    validate=validate,
    preflight=lambda a: check_path(a.path),
    register=lambda a, w: register_full_attention(a.path, a.dense_mask_max_tokens),
)
