"""Aggregation, RULER's two tasks: common-words extraction (a list in which a few words appear
`freq_cw` times and the rest `freq_ucw` times; name the `num_cw` most common) and frequent-words
extraction (coded words drawn Zipf-like with alpha 2; name the three most frequent). The list is
the whole context: these tasks have no haystack and no depth.

RULER's counts (10 words x 30 against 3) need a few thousand tokens; where they do not fit, the
number of common words (the answers of each sample) and their count shrink with the length, and the
context fills the length up to one item.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass

from ...synthetic.values import ADJECTIVES, NOUNS, distinct
from .sample import Sample, answer_budget, bos, encode, tail_ids
from .templates import Template

WORDS = tuple(dict.fromkeys(ADJECTIVES + NOUNS))
NOISE_SHARE = 0.25  # frequent-words: the share of coded words followed by RULER's '....'


def _word_pool(rng: random.Random, count: int) -> list[str]:
    """`count` distinct words: single words first, then adjective-noun compounds when more are needed."""
    pool = list(WORDS)
    rng.shuffle(pool)
    pool += distinct(lambda: rng.choice(ADJECTIVES) + rng.choice(NOUNS), count - len(pool), exclude=pool)
    return pool[:count]


def _encode_items(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


@dataclass(frozen=True)
class CommonWords:
    name: str
    num_cw: int = 10
    freq_cw: int = 30
    freq_ucw: int = 3
    family: str = "cwe"
    has_depth: bool = False

    def generate(self, tokenizer, haystack, template: Template, length: int, depth, rng: random.Random,
                 distractors: int, reserve: int = 0) -> Sample:
        probe = [template.cwe_item.format(index=100, word=w) for w in WORDS[:50]]
        per_item = sum(len(encode(tokenizer, p)) for p in probe) / len(probe)
        # items that fit beside about 40 tokens of head, question and answers, and, when generating,
        # beside the room RULER keeps for the answer
        capacity = int((length - 40 - reserve) / per_item)
        num_cw = max(1, min(self.num_cw, capacity // (2 * (self.freq_ucw + 2))))
        freq_cw = min(self.freq_cw, max(self.freq_ucw + 2, capacity // (2 * num_cw)))
        pool = _word_pool(rng, num_cw + max(1, capacity // self.freq_ucw) + distractors)
        uncommon = pool[num_cw:]
        head = bos(tokenizer) + encode(tokenizer, template.cwe_head)
        write = template.answers[self.family]
        seed = rng.random()

        def build(n_uncommon: int) -> list[int] | None:
            items = common * freq_cw + [w for w in uncommon[:n_uncommon] for _ in range(self.freq_ucw)]
            random.Random(seed).shuffle(items)
            texts = [template.cwe_item.format(index=i + 1, word=w) for i, w in enumerate(items)]
            body = [t for ids in _encode_items(tokenizer, texts) for t in ids]
            return body if len(body) <= room else None

        # the estimate above asks too much where the head and question are long: fewer common words, then
        # fewer repeats of one, until they fit with no uncommon word beside them
        while True:
            common = pool[:num_cw]
            continuations = [write.format(answer=w) for w in common]
            budget = answer_budget(tokenizer, continuations, reserve)
            tail, prefix_len = tail_ids(tokenizer, template.cwe_question.format(count=num_cw),
                                        template.cwe_answer_prefix.format(count=num_cw))
            room = length - budget - len(head) - len(tail)
            if build(0) is not None:
                break
            if num_cw == 1 and freq_cw <= self.freq_ucw + 2:
                raise ValueError(f"{self.name}: length {length} cannot hold {num_cw} word x {freq_cw}")
            num_cw, freq_cw = (num_cw - 1, freq_cw) if num_cw > 1 else (1, freq_cw - 1)

        # the most groups of freq_ucw uncommon words that still fit: a binary search over the count
        lo, hi = 0, len(uncommon)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if build(mid) is not None else (lo, mid - 1)
        n_uncommon = lo
        ids = head + build(n_uncommon) + tail
        wrong = uncommon[:n_uncommon][:distractors]
        wrong += uncommon[n_uncommon:][: distractors - len(wrong)]
        return Sample(
            task=self.name, length=length, depth=None, input_ids=ids, answers=common, continuations=continuations,
            distractors=[[write.format(answer=w) for w in wrong]] * len(common), metric="all",
            max_new_tokens=budget, context_span=(len(head), len(ids) - len(tail)), answer_prefix_tokens=prefix_len,
        )


def _coded_words(rng: random.Random, count: int) -> list[str]:
    return distinct(lambda: "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 6))), count)


@dataclass(frozen=True)
class FrequentWords:
    name: str
    alpha: float = 2.0
    top: int = 3
    family: str = "fwe"
    has_depth: bool = False

    def generate(self, tokenizer, haystack, template: Template, length: int, depth, rng: random.Random,
                 distractors: int, reserve: int = 0) -> Sample:
        head = bos(tokenizer) + encode(tokenizer, template.fwe_head)
        tail, prefix_len = tail_ids(tokenizer, template.fwe_question, template.fwe_answer_prefix)
        probe = _coded_words(random.Random(0), 64)
        noise = len(encode(tokenizer, " ...."))
        per_word = sum(len(e) for e in _encode_items(tokenizer, [f" {w}" for w in probe])) / len(probe) + NOISE_SHARE * noise
        room = length - len(head) - len(tail) - 4 * self.top - 4  # the answers take about 4 tokens each
        capacity = max(8, int(0.9 * room / per_word))
        vocab = _coded_words(rng, capacity + 1 + distractors)
        answers = vocab[: self.top]
        write = template.answers[self.family]
        continuations = [write.format(answer=w) for w in answers]
        budget = answer_budget(tokenizer, continuations, reserve)
        room = length - budget - len(head) - len(tail)
        seed = rng.random()
        scale = float(capacity)
        while True:  # Zipf counts c_r = floor(C / r^alpha) where >= 1, C as large as fits the length
            counts = [c for c in (int(scale / r**self.alpha) for r in range(1, capacity + 1)) if c >= 1] + [1]
            counts += [1] * (self.top + 1 - len(counts))
            for r in range(self.top, 0, -1):  # the asked words strictly more frequent than the next
                counts[r - 1] = max(counts[r - 1], counts[r] + 1)
            order = random.Random(seed)
            words = [w for w, c in zip(vocab, counts) for _ in range(c)]
            order.shuffle(words)
            texts = [f" {w}" + (" ...." if order.random() < NOISE_SHARE else "") for w in words]
            encoded = _encode_items(tokenizer, texts)
            if sum(len(e) for e in encoded) <= room:
                break
            if scale < 2:
                raise ValueError(f"{self.name}: length {length} is too short for frequent-words extraction")
            scale *= 0.9
        ids = head + [t for e in encoded for t in e] + tail
        present = set(words)
        wrong = [w for w in vocab[self.top :] if w in present][:distractors]
        wrong += [w for w in vocab[len(counts):]][: distractors - len(wrong)]
        return Sample(
            task=self.name, length=length, depth=None, input_ids=ids, answers=answers, continuations=continuations,
            distractors=[[write.format(answer=w) for w in wrong]] * len(answers), metric="all",
            max_new_tokens=budget, context_span=(len(head), len(ids) - len(tail)), answer_prefix_tokens=prefix_len,
        )
