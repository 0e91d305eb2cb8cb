"""Needle in a haystack, RULER's family: single needles of number, word or UUID values; several
keys with distractor needles (multi-key); several values for one key (multi-value); several keys
asked at once (multi-query). Keys are adjective-noun words, as RULER's `type_needle_k: words`.
`niah_single_1` is RULER's passkey-like task: under the `ruler` template its haystack is RULER's
repeated noise, as RULER's `type_haystack: repeat`; the others read the held-out text (RULER's essays).

The first answer needle sits at the requested depth of the context, token-exact; the others at
seeded random depths. Metric: string_match_all (the share of answers found).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ...synthetic.values import distinct, distinct_values, word
from .sample import Sample, answer_budget, assemble, encode, tail_ids
from .templates import Template, render_value


def _join(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + ", and " + keys[-1]


@dataclass(frozen=True)
class Niah:
    name: str
    kind: str = "numbers"  # value kind: numbers, words, uuids
    keys: int = 1  # needles with different keys (all but the asked ones are distractors)
    values: int = 1  # values per asked key
    queries: int = 1  # keys asked at once
    family: str = "niah"
    has_depth: bool = True
    noise: bool = False  # RULER hides this one in its repeated noise (where the template takes noise)

    def generate(self, tokenizer, haystack, template: Template, length: int, depth: float, rng: random.Random,
                 distractors: int, reserve: int = 0) -> Sample:
        keys = distinct(lambda: word(rng), max(self.keys, self.queries))
        asked = keys[: self.queries]
        all_values = distinct_values(self.kind, rng, self.queries * self.values + len(keys) - len(asked))
        pairs = [(k, all_values[i * self.values + j]) for i, k in enumerate(asked) for j in range(self.values)]
        pairs += list(zip(keys[len(asked):], all_values[len(pairs):]))
        answers = [v for _, v in pairs[: self.queries * self.values]]
        wrong_in_context = [v for _, v in pairs[len(answers):]]

        kind_words = self.kind
        key_text = _join(asked)
        head = template.niah_head.format(kind=kind_words)
        tail, prefix_len = tail_ids(tokenizer, template.niah_question.format(kind=kind_words, key=key_text),
                                    template.niah_answer_prefix.format(kind=kind_words, key=key_text))
        needle_ids = [encode(tokenizer, template.niah_needle.format(kind=kind_words, key=k,
                                                                   value=render_value(template, self.kind, v)))
                      for k, v in pairs]
        write = template.answers[self.family]
        continuations = [write.format(answer=render_value(template, self.kind, a)) for a in answers]
        budget = answer_budget(tokenizer, continuations, reserve)
        fixed = len(encode(tokenizer, head)) + len(tail) + (tokenizer.bos_token_id is not None)
        filler_len = length - budget - fixed - sum(len(ids) for ids in needle_ids)
        if filler_len < 1:
            raise ValueError(f"{self.name}: length {length} leaves no room for a haystack")
        filler = haystack.filler(filler_len, rng, [v for _, v in pairs] + keys, self.noise and template.noise_haystack)
        positions = [round(depth * filler_len)] + [rng.randint(0, filler_len) for _ in pairs[1:]]
        ids, starts, span = assemble(tokenizer, head, filler, list(zip(positions, needle_ids)), tail)

        fresh = distinct_values(self.kind, rng, distractors, exclude=all_values)
        wrong = (wrong_in_context + fresh)[:distractors]
        return Sample(
            task=self.name, length=length, depth=depth, input_ids=ids, answers=answers,
            continuations=continuations,
            distractors=[[write.format(answer=render_value(template, self.kind, w)) for w in wrong]] * len(answers),
            metric="all", max_new_tokens=budget, needle_starts=starts, needle_lengths=[len(ids) for ids in needle_ids],
            context_span=span, answer_prefix_tokens=prefix_len,
        )
