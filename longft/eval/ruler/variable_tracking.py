"""Variable tracking (RULER's multi-hop tracing): chains `X1 = value; X2 = X1; ...` hidden in the
haystack; the answer is every variable of the chain that holds the asked value. Variables are five
capital letters and values five digits, as in RULER; the first assignment sits at the requested
depth and each hop somewhere after it, in order. RULER's `ruler` template uses its noise haystack.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass

from ...synthetic.values import distinct
from .sample import Sample, answer_budget, assemble, encode, tail_ids
from .templates import Template


def _variables(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """`count` fresh five-letter names, none in `taken` (which gains them)."""
    out = distinct(lambda: "".join(rng.choices(string.ascii_uppercase, k=5)), count, taken)
    taken.update(out)
    return out


@dataclass(frozen=True)
class VariableTracking:
    name: str
    chains: int = 1
    hops: int = 4
    family: str = "vt"
    has_depth: bool = True

    def generate(self, tokenizer, haystack, template: Template, length: int, depth: float, rng: random.Random,
                 distractors: int, reserve: int = 0) -> Sample:
        taken: set[str] = set()
        values = distinct(lambda: str(rng.randint(10000, 99999)), self.chains)
        chains = [_variables(rng, self.hops + 1, taken) for _ in values]
        statements = [
            [encode(tokenizer, template.vt_first.format(var=chain[0], value=value))]
            + [encode(tokenizer, template.vt_hop.format(var=chain[i], prev=chain[i - 1])) for i in range(1, len(chain))]
            for chain, value in zip(chains, values)
        ]
        answers = chains[0]
        write = template.answers[self.family]
        continuations = [write.format(answer=a) for a in answers]
        head = template.vt_head
        tail, prefix_len = tail_ids(tokenizer, template.vt_question.format(value=values[0], count=len(answers)),
                                    template.vt_answer_prefix.format(value=values[0], count=len(answers)))
        budget = answer_budget(tokenizer, continuations, reserve)
        fixed = len(encode(tokenizer, head)) + len(tail) + (tokenizer.bos_token_id is not None)
        filler_len = length - budget - fixed - sum(len(ids) for chain in statements for ids in chain)
        if filler_len < 1:
            raise ValueError(f"{self.name}: length {length} leaves no room for a haystack")
        filler = haystack.filler(filler_len, rng, values + [v for c in chains for v in c], template.noise_haystack)
        needles = []
        for c, chain in enumerate(statements):
            first = round(depth * filler_len) if c == 0 else rng.randint(0, filler_len)
            spots = [first] + sorted(rng.randint(first, filler_len) for _ in chain[1:])
            needles += list(zip(spots, chain))
        ids, starts, span = assemble(tokenizer, head, filler, needles, tail)
        wrong = [v for chain in chains[1:] for v in chain] + _variables(rng, distractors, taken)
        return Sample(
            task=self.name, length=length, depth=depth, input_ids=ids, answers=answers, continuations=continuations,
            distractors=[[write.format(answer=w) for w in wrong[:distractors]]] * len(answers),
            metric="all", max_new_tokens=budget, needle_starts=starts,
            needle_lengths=[len(ids) for _, ids in needles], context_span=span, answer_prefix_tokens=prefix_len,
        )
