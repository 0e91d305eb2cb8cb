"""Landmark attention's settings: what a recipe may say, what the checkpoint records, and the
checks against the model and the batch before any work starts.

attention.params: mem_freq (text tokens a block holds; a landmark closes it), top_k (blocks
retrieved per query and head at inference, beside the local ones), local_window (tokens of the
most recent finished blocks always attended at inference, a whole number of blocks; 0 for none),
next_token_from (which output predicts the text token after a landmark: `landmark`, the landmark's
own, as the authors' train.py trains it; or `text`, the block's last text token's, as their fused
path does, so that a landmark's output is never scored and it only summarises its block).
"""
from __future__ import annotations

from ...errors import RecipeError
from .attention import PATH_CHOICES
from .layout import row_length

PARAMS = {"mem_freq", "top_k", "local_window", "next_token_from"}
NEXT_TOKEN_FROM = ("landmark", "text")
DEFAULT_TOP_K = 5  # the authors' run_test.py
DEFAULT_LOCAL_WINDOW = 0  # the authors attend to the current block and the retrieved ones only


def _whole(value, at_least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= at_least


def params_of(attention) -> tuple[int, int, int]:
    p = attention.params
    return p.get("mem_freq"), p.get("top_k", DEFAULT_TOP_K), p.get("local_window", DEFAULT_LOCAL_WINDOW)


def next_token_from(params: dict) -> str:
    return params.get("next_token_from", NEXT_TOKEN_FROM[0])


def validate(attention, seq_len: int, window: int | None) -> None:
    """What the settings and the training length decide."""
    unknown = set(attention.params) - PARAMS
    if unknown:
        raise RecipeError(f"attention.params has {sorted(unknown)}: landmark takes {sorted(PARAMS)}")
    mem_freq, top_k, local_window = params_of(attention)
    if not _whole(mem_freq, 1):
        raise RecipeError(f"attention.params.mem_freq = {mem_freq!r}: the text tokens of a block, a whole number >= 1 "
                          "(the authors' LLaMA fine-tune: 63)")
    if attention.path not in PATH_CHOICES:
        raise RecipeError(f"attention.path = {attention.path!r} is not valid for landmark; valid paths: "
                          f"{', '.join(PATH_CHOICES)}")
    block = mem_freq + 1
    if not _whole(local_window, 0) or local_window % block:
        raise RecipeError(f"attention.params.local_window = {local_window!r}: a whole number of blocks of mem_freq + 1 = "
                          f"{block} tokens (0, {block}, {2 * block}, ...)")
    if next_token_from(attention.params) not in NEXT_TOKEN_FROM:
        raise RecipeError(f"attention.params.next_token_from = {attention.params['next_token_from']!r}: which output "
                          f"predicts the text after a landmark, one of {', '.join(NEXT_TOKEN_FROM)}")
    if not _whole(top_k, 1):
        raise RecipeError(f"attention.params.top_k = {top_k!r}: blocks retrieved per query, a whole number >= 1")
    blocks = row_length(seq_len, mem_freq) // block
    needed = top_k + local_window // block + 1
    if needed > blocks:
        raise RecipeError(
            f"attention.params.top_k = {top_k}: inference attends to top_k + local_window / {block} + 1 = {needed} "
            f"blocks, but a training row of data.seq_len = {seq_len} text tokens holds {blocks} blocks of {block} "
            f"(mem_freq {mem_freq} + its landmark); retrieved blocks would sit at positions training never saw. "
            f"Use top_k <= {blocks - local_window // block - 1}, or a data.seq_len of at least {needed * mem_freq}"
        )


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def check_stage(attention, stage, config) -> None:
    """Against the model and the batch, before any work starts."""
    if stage.position.scheme != "document":
        raise RecipeError(f"position.scheme = {stage.position.scheme!r} with landmark: its blocks and landmarks are "
                          "placed by each document's positions 0, 1, 2, ... and inference re-places retrieved blocks "
                          "at consecutive positions; use position.scheme: document")
    if stage.train.sequence_parallel > 1:
        raise RecipeError(f"train.sequence_parallel = {stage.train.sequence_parallel} with landmark: the grouped softmax "
                          "needs a query's whole document on one rank; use train.sequence_parallel: 1")
    if attention.path == "flex" and not _has_gpu():
        raise RecipeError("attention.path = 'flex' with landmark on the CPU: flex attention has no backward pass "
                          "there; use attention.path: chunked (the same weights, memory chunk x N) or auto")
    if stage.adapter.method != "none":
        raise RecipeError(f"adapter.method = {stage.adapter.method!r} with landmark: the new landmark token's embedding "
                          "row must train, which an adapter leaves frozen; use adapter.method: none")


def settings(attention, window: int | None) -> dict:
    mem_freq, top_k, local_window = params_of(attention)
    return {"method": "landmark", "mem_freq": mem_freq, "top_k": top_k, "local_window": local_window,
            "next_token_from": next_token_from(attention.params)}


def position_span(attention, seq_len: int) -> int:
    """A row holds its landmarks too: positions run past data.seq_len."""
    return row_length(seq_len, attention.params["mem_freq"])


def refusal(attention, config) -> str | None:
    """Every layer takes the grouped softmax: a sliding layer's window has no place in it."""
    from ...families.family import text_config

    text = text_config(config)
    types = getattr(text, "layer_types", None) or []
    if "sliding_attention" in types:
        return "landmark attention replaces every layer's attention, and this model has sliding-window layers"
    if getattr(text, "attn_logit_softcapping", None):
        return "landmark attention has no logit soft-capping, which this model's attention applies"
    return None


def smoke_params(params: dict, seq_len: int, layers: int) -> dict:
    """The same layout on --smoke's stand-in: blocks small enough that top_k + the local ones + the
    current block fit in the shrunk row."""
    top_k = params.get("top_k", DEFAULT_TOP_K)
    local = params.get("local_window", DEFAULT_LOCAL_WINDOW) // (params["mem_freq"] + 1)
    mem_freq = max(1, seq_len // (top_k + local + 1) - 1)
    return {**params, "mem_freq": mem_freq, "local_window": local * (mem_freq + 1)}


def engine_note(saved: dict) -> str:
    return (f"landmark attention: plain engines run the model as ordinary attention over one context, with no "
            f"landmarks inserted; retrieval of the top {saved['top_k']} blocks of {saved['mem_freq']} tokens "
            "(longft eval's block cache) is lost, so it reads at most its window well")
