"""lm-eval: the export scored by lm-eval's own `hf` model (HFLM), as users score exports.

Each prompt is split into a context and the last CONTINUATION_TOKENS tokens as text, and HFLM's
`loglikelihood` scores the continuation with the context length it derives from the export (a
tokenizer capped at the old window truncates the context there). Its tokenization is its own: the
context and the whole string are encoded apart, with the BOS token (`add_bos_token=True`, as longft
trains and evaluates), and serve-check scores exactly those ids with transformers.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ...errors import RecipeError
from .base import Engine, Scored

CONTINUATION_TOKENS = 64


def preflight(python: str | None) -> None:
    if python is not None:
        raise RecipeError("--engine-python is for vLLM; lm-eval runs in this Python (pip install lm-eval here)")
    if importlib.util.find_spec("lm_eval") is None:
        raise RecipeError("lm-eval does not import here; pip install lm-eval into this virtualenv")


def split_prompt(tokenizer, ids: list[int]) -> tuple[str, str]:
    """(context, continuation) as text, the way HFLM moves a context's trailing spaces onto the
    continuation."""
    body = ids[1:] if ids and ids[0] == tokenizer.bos_token_id else ids
    context = tokenizer.decode(body[:-CONTINUATION_TOKENS])
    continuation = tokenizer.decode(body[-CONTINUATION_TOKENS:])
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    return context, continuation


def score(checkpoint: Path, tokenizer, prompts: dict[int, list[list[int]]], python: str | None,
          context: int | None = None):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(checkpoint), backend="causal", dtype="float32", device="cpu", batch_size=1,
              add_bos_token=True, max_length=context)
    scored = {}
    for length, rows in prompts.items():
        pairs = [split_prompt(tokenizer, ids) for ids in rows]
        requests = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=i) for i, pair in enumerate(pairs)]
        results = lm.loglikelihood(requests, disable_tqdm=True)
        scored[length] = []
        for (context, continuation), (logprob, _greedy) in zip(pairs, results):
            whole = tokenizer(context + continuation)["input_ids"]
            start = len(tokenizer(context)["input_ids"])
            scored[length].append(Scored(whole, start, float(logprob), len(whole) - start))
    return scored, int(lm.max_length)


ENGINE = Engine(
    preflight=preflight,
    score=score,
    what="lm-eval (its hf model, loglikelihood of held-out continuations, the context length it derives) "
         "against transformers",
)
