"""A model read as a stream (a sink cache, a FoT memory): what longft's evaluation calls on a model.

Subclasses give `stream()`, an object whose `feed(ids)` reads more tokens of one row and returns
their next-token logits, and whose `fork()` is an independent copy of where it stands. A forward
call streams each row whole; `generate` continues the stream greedily; `continuation_logprobs`
reads a prompt once and each continuation from a fork of it. So perplexity, passkey and the RULER
suite run on it unchanged.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch


class StreamedModel:
    def __init__(self, model):
        self.model = model
        self.device, self.config = model.device, model.config

    def stream(self):
        raise NotImplementedError

    def eval(self):
        self.model.eval()
        return self

    def __call__(self, input_ids: torch.Tensor, logits_to_keep: int = 0, **kwargs):
        """Each row streamed whole; the logits of its last `logits_to_keep` positions (all for 0)."""
        rows = [self.stream().feed(row.tolist())[-logits_to_keep:] for row in input_ids]
        return SimpleNamespace(logits=torch.stack(rows))

    @torch.no_grad()
    def continuation_logprobs(self, prompt: list[int], continuations: list[list[int]]) -> list[float]:
        """Summed log-probability of each continuation after `prompt`."""
        stream = self.stream()
        last = stream.feed(prompt)[-1].float().log_softmax(-1)
        scores = []
        for cont in continuations:
            total = float(last[cont[0]])
            if len(cont) > 1:
                logp = stream.fork().feed(cont[:-1]).float().log_softmax(-1)
                total += float(logp.gather(1, torch.tensor(cont[1:], device=logp.device)[:, None]).sum())
            scores.append(total)
        return scores

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, max_new_tokens: int = 8, eos_token_id=None, **kwargs):
        outs = []
        for row in input_ids:
            stream = self.stream()
            tokens = row.tolist()
            logits = stream.feed(tokens)[-1]
            for _ in range(max_new_tokens):
                nxt = int(logits.argmax())
                tokens.append(nxt)
                if eos_token_id is not None and nxt == eos_token_id:
                    break
                logits = stream.feed([nxt])[-1]
            outs.append(torch.tensor(tokens))
        width = max(len(t) for t in outs)
        pad = eos_token_id if eos_token_id is not None else 0
        return torch.stack([torch.cat([t, torch.full((width - len(t),), pad)]) for t in outs])
