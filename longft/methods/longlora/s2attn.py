"""Shifted sparse attention (S²-Attn, LongLoRA) as a transformers attention function.

Definition (per batch row, sequence length N, group size G):
- heads [0, H/2): groups [0, G), [G, 2G), ...;
- heads [H/2, H): groups shifted by G/2 *by offsets*: [0, G/2), [G/2, 3G/2), ..., [N - G/2, N).
  Nothing wraps around: the reference's non-flash path rolls tokens by -G/2, which puts the
  first tokens into the last group where the causal mask lets them see the future.
- inside a group attention is causal, and a token never attends to another document of a
  packed sequence (documents come from the batch's explicit boundaries, `boundaries.py`).
  Groups are laid out on each document's own token index, so packing changes nothing.

Under sequence parallelism a call holds a block of the heads; "the second half" is the second
half of the model's heads, by global index (`heads.py`).

Three paths with one meaning: grouped SDPA (segments gathered into batches: N*G work, not N*N;
unpacked rows take views of fixed group slices instead of gathering),
flex attention with a block mask, and flash-attn varlen with cu_seqlens. Training only; an
exported model uses full attention.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import RecipeError
from ...attention.boundaries import cu_seq_lens, document_starts, index_in_document
from ...attention.masked import allowed_pairs, attend
from ...attention.heads import global_head_offset
from ...attention.segments import repeat_kv, sdpa_in_segments, segment_spans

NAME = "longft_s2attn"


def group_size_for(seq_len: int, ratio: float | None, fixed: int | None) -> int:
    """G from the ratio (G = N * ratio) or a fixed size; N must split into whole, even groups."""
    g = fixed if fixed else int(round(seq_len * ratio))
    if g < 2 or g % 2 or seq_len % g:
        rule = f"group_size {fixed}" if fixed else f"group_size_ratio {ratio} (G = {seq_len} * {ratio} = {seq_len * ratio:g})"
        raise RecipeError(
            f"S²-Attn cannot group a sequence of {seq_len} tokens with {rule}: the length must be a multiple "
            f"of an even group size; use a length that is a multiple of {2 * max(1, round(1 / ratio)) if ratio else 'G'}"
            " or set attention.group_size"
        )
    return g


def segment_starts(doc_starts: torch.Tensor, group: int, shifted: bool) -> torch.Tensor:
    """(batch, seq_len) bool: True where an attention segment starts.

    Groups are laid out on each document's own token index (from the batch's document
    boundaries), so a document packed at any offset is grouped exactly as it would be alone:
    plain groups start at 0, G, 2G, ...; shifted groups at 0, G/2, 3G/2, ... of the document,
    and a new document always starts a new segment.
    """
    idx = index_in_document(doc_starts)
    g = (idx + (group // 2 if shifted else 0)) // group
    starts = doc_starts.clone()
    starts[:, 1:] |= g[:, 1:] != g[:, :-1]
    return starts


def segment_ids(starts: torch.Tensor) -> torch.Tensor:
    return starts.long().cumsum(-1)


def plain_head_count(local_heads: int, offset: int, total: int) -> int:
    """How many of the heads held (global indices offset .. offset + local_heads - 1) are plain:
    global heads [0, total/2) are, the rest are shifted."""
    return max(0, min(local_heads, total // 2 - offset))


def s2_sdpa(q, k, v, plain, shifted, scale, split):
    parts = []
    if split > 0:
        parts.append(sdpa_in_segments(q[:, :split], k[:, :split], v[:, :split], plain, scale))
    if split < q.shape[1]:
        parts.append(sdpa_in_segments(q[:, split:], k[:, split:], v[:, split:], shifted, scale))
    return torch.cat(parts, dim=1)


def is_regular_layout(cu: torch.Tensor | None, batch: int, seq_len: int) -> bool:
    """One document per row: groups are fixed slices of the sequence."""
    if cu is None:
        return True
    return cu.numel() == batch + 1 and bool((cu.cpu() == torch.arange(batch + 1) * seq_len).all())


def _grouped_causal(x_q, x_k, x_v, groups: int, scale) -> torch.Tensor:
    """(B, h, n, D) slices cut into `groups` equal groups, causal SDPA inside each; returns (B, n, h, D).

    The groups go into the batch dimension as (B * groups, h, g, D) with the memory layout the
    fused CPU/GPU kernels take for ordinary attention (a view when the slice spans whole rows)."""
    B, h, n, D = x_q.shape

    def split(x):
        return x.transpose(1, 2).reshape(B * groups, n // groups, h, D).transpose(1, 2)

    o = F.scaled_dot_product_attention(split(x_q), split(x_k), split(x_v), is_causal=True, scale=scale)
    return o.transpose(1, 2).reshape(B, n, h, D)


def s2_sdpa_regular(q, k, v, group: int, scale, split: int) -> torch.Tensor:
    """The grouped SDPA path when every row is one document from position 0 (unpacked training):
    groups are fixed slices of q/k/v, so nothing is gathered. Returns (B, N, H, D), the layout
    transformers expects back."""
    B, H, N, D = q.shape
    g2 = group // 2
    parts = []
    if split > 0:
        parts.append(_grouped_causal(q[:, :split], k[:, :split], v[:, :split], N // group, scale))
    if split == H:
        return parts[0]
    sq, sk, sv = q[:, split:], k[:, split:], v[:, split:]
    # shifted: the first and the last G/2 tokens are groups of their own (attended as one batch),
    # the groups [G/2, 3G/2), ... lie between them
    ends = [slice(0, g2), slice(N - g2, N)]
    eq, ek, ev = (torch.cat([x[:, :, s] for s in ends]) for x in (sq, sk, sv))
    edge = F.scaled_dot_product_attention(eq, ek, ev, is_causal=True, scale=scale).transpose(1, 2)
    pieces = [edge[:B]]
    if N > group:
        inner = slice(g2, N - g2)
        pieces.append(_grouped_causal(sq[:, :, inner], sk[:, :, inner], sv[:, :, inner], N // group - 1, scale))
    parts.append(torch.cat(pieces + [edge[B:]], dim=1))
    return torch.cat(parts, dim=2)


# ---------------------------------------------------------------- flex attention


def s2_flex(q, k, v, plain, shifted, scale, split):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    B, H, N, _ = q.shape
    seg_plain, seg_shifted = segment_ids(plain), segment_ids(shifted)

    def mask_mod(b, h, qi, ki):
        same = torch.where(h < split, seg_plain[b, qi] == seg_plain[b, ki], seg_shifted[b, qi] == seg_shifted[b, ki])
        return same & (ki <= qi)

    block = create_block_mask(mask_mod, B, H, N, N, device=q.device)
    return flex_attention(q, k, v, block_mask=block, scale=scale)


# ---------------------------------------------------------------- flash-attn varlen


def s2_flash(q, k, v, plain, shifted, scale, split):
    from flash_attn import flash_attn_varlen_func

    B, H, N, D = q.shape
    outs = []
    for heads, starts in ((slice(0, split), plain), (slice(split, H), shifted)):
        if heads.start == heads.stop:
            continue
        first, lengths = segment_spans(starts)
        cu = torch.cat([first, torch.tensor([B * N], device=q.device)]).to(torch.int32)
        longest = int(lengths.max())

        def flat(x):
            return x[:, heads].transpose(1, 2).reshape(B * N, -1, D)

        o = flash_attn_varlen_func(flat(q), flat(k), flat(v), cu, cu, longest, longest, softmax_scale=scale, causal=True)
        outs.append(o.view(B, N, -1, D).transpose(1, 2))
    return torch.cat(outs, dim=1)


PATHS = {"sdpa": s2_sdpa, "flex": s2_flex, "flash": s2_flash}


def flash_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def make_s2_attention(group_size_ratio: float = 0.25, group_size: int | None = None, path: str = "auto"):
    """An attention function with transformers' signature; returns (B, N, H, D) like the built-ins."""
    if path not in ("auto", *PATHS):
        raise RecipeError(f"attention.path = {path!r} is not valid; valid paths: auto, {', '.join(PATHS)}")
    if path == "flash" and not flash_available():
        raise RecipeError("attention.path = 'flash' needs flash-attn and a CUDA GPU (pip install flash-attn)")

    def s2_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        if kwargs.get("past_key_values") is not None and query.shape[2] != key.shape[2]:
            raise RuntimeError("S²-Attn is for training; evaluate and generate with full attention (sdpa)")
        if kwargs.get("softcap"):
            raise RuntimeError(f"S²-Attn has no attention soft cap ({kwargs['softcap']}); " + SOFTCAP_REASON)
        if kwargs.get("sliding_window"):  # a sliding layer keeps its own window, within each document
            B, _, N, _ = query.shape
            return attend(query, key, value, allowed_pairs(B, N, N, query.device, kwargs), scaling), None
        B, H, N, _ = query.shape
        group = group_size_for(N, group_size_ratio, group_size)
        split = plain_head_count(H, *global_head_offset(module, H))
        key, value = repeat_kv(key, H), repeat_kv(value, H)
        cu = cu_seq_lens(kwargs)
        chosen = path if path != "auto" else ("flash" if query.is_cuda and flash_available() else "sdpa")
        if chosen == "sdpa" and is_regular_layout(cu, B, N):
            return s2_sdpa_regular(query, key, value, group, scaling, split), None
        doc_starts = document_starts(cu, B, N, query.device)
        plain = segment_starts(doc_starts, group, False)
        shifted = segment_starts(doc_starts, group, True)
        out = PATHS[chosen](query, key, value, plain, shifted, scaling, split)
        return out.transpose(1, 2).contiguous(), None

    return s2_attention


SOFTCAP_REASON = "its grouped kernels score without one"


def refusal(config) -> str | None:
    """Why S²-Attn cannot train this model, or None."""
    from ...families.family import attention_softcap

    cap = attention_softcap(config)
    return f"attention logits are soft-capped (attn_logit_softcapping = {cap}), and {SOFTCAP_REASON}" if cap else None


def _no_mask(*args, **kwargs):
    """S²-Attn builds its own group/document masks from the boundaries; transformers need not."""
    return None


def register_s2_attention(group_size_ratio: float = 0.25, group_size: int | None = None, path: str = "auto") -> str:
    """Register under NAME for `attn_implementation=NAME` (re-registering replaces the settings)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, make_s2_attention(group_size_ratio, group_size, path))
    AttentionMaskInterface.register(NAME, _no_mask)
    return NAME
