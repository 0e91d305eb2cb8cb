"""Scoring a sample: RULER's string matching of a generated answer, or the log-likelihood rank of
each true answer among distractors, for models too small to generate reliably.

Both give a score in [0, 1] per sample; `all` averages over the answers (RULER's string_match_all),
`part` takes the best (string_match_part).
"""
from __future__ import annotations

import torch

from .sample import Sample


def string_match_all(prediction: str, answers: list[str]) -> float:
    """RULER: the share of answers that occur in the prediction, case-insensitive."""
    return sum(a.lower() in prediction.lower() for a in answers) / len(answers)


def string_match_part(prediction: str, answers: list[str]) -> float:
    """RULER: 1 if any answer occurs in the prediction."""
    return max(float(a.lower() in prediction.lower()) for a in answers)


METRICS = {"all": string_match_all, "part": string_match_part}


def combine(hits: list[float], metric: str) -> float:
    return sum(hits) / len(hits) if metric == "all" else max(hits)


@torch.no_grad()
def generate_answer(model, tokenizer, sample: Sample) -> str:
    ids = torch.tensor([sample.input_ids], device=model.device)
    out = model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=sample.max_new_tokens, do_sample=False,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    return tokenizer.decode(out[0, len(sample.input_ids):], skip_special_tokens=True)


def score_generation(model, tokenizer, sample: Sample) -> tuple[float, str]:
    prediction = generate_answer(model, tokenizer, sample)
    return METRICS[sample.metric](prediction, sample.answers), prediction


@torch.no_grad()
def continuation_logprobs(model, prompt: list[int], continuations: list[list[int]]) -> list[float]:
    """Summed log-probability of each continuation after `prompt`.

    A transformers model reads the prompt once into a KV cache (keeping only the last logits, so a
    long prompt never materializes its full logits), then each continuation from that cache, cropped
    back after each. A streamed model (sink cache, FoT memory) does the same with forks of its
    stream; anything else reads prompt + continuation whole.
    """
    device = model.device
    from transformers import PreTrainedModel

    if isinstance(model, PreTrainedModel):
        out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1)
        cache, last = out.past_key_values, out.logits[0, -1].float().log_softmax(-1)
        scores = []
        for cont in continuations:
            total = float(last[cont[0]])
            if len(cont) > 1:
                step = model(input_ids=torch.tensor([cont[:-1]], device=device), past_key_values=cache, use_cache=True)
                logp = step.logits[0].float().log_softmax(-1)
                total += float(logp.gather(1, torch.tensor(cont[1:], device=device)[:, None]).sum())
                cache.crop(-(len(cont) - 1))  # negative: the number of tokens to drop again
            scores.append(total)
        return scores
    if hasattr(model, "continuation_logprobs"):
        return model.continuation_logprobs(prompt, continuations)
    scores = []
    for cont in continuations:
        logits = model(input_ids=torch.tensor([prompt + cont], device=device)).logits[0, len(prompt) - 1 : -1]
        logp = logits.float().log_softmax(-1)
        scores.append(float(logp.gather(1, torch.tensor(cont, device=device)[:, None]).sum()))
    return scores


def score_loglik(model, tokenizer, sample: Sample) -> tuple[float, list[int]]:
    """Each answer counts as found when its continuation outscores every distractor; returns the
    sample's score and, per answer, how many distractors outscored it (0 = ranked first)."""
    hits, ranks = [], []
    for cont, wrong in zip(sample.continuations, sample.distractors):
        candidates = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in [cont] + list(wrong)]
        scores = continuation_logprobs(model, sample.input_ids, candidates)
        above = sum(s >= scores[0] for s in scores[1:])
        ranks.append(above)
        hits.append(float(above == 0))
    return combine(hits, sample.metric), ranks


SCORERS = {"generation": score_generation, "loglik": score_loglik}
