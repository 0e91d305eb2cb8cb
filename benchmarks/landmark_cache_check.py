"""Is it the block cache or the training that misses a passkey? A landmark checkpoint answers the
same passkey prompts twice: read through its block cache (longft's evaluation path) and by the
training-time forward over the whole prompt with its landmarks (every block in reach, no retrieval).

    python benchmarks/landmark_cache_check.py CHECKPOINT [--length 256] [--prompts 10]

Prints each key with both answers, how many answers are the same, and how many found the key.
"""
from __future__ import annotations

import random
import re

import torch

from landmark_probe_inputs import probe_inputs  # benchmarks/ is the script's folder


def main() -> None:
    from longft.eval.passkey import _ids, code_prompt
    from longft.methods.landmark.layout import text_logits
    from longft.methods.landmark.tokens import insert_landmarks

    args, tokenizer, cached, filler = probe_inputs(__doc__, default_prompts=10)
    model, landmark, mem_freq = cached.model, cached.landmark, cached.mem_freq

    @torch.no_grad()
    def whole_forward(prompt: list[int], n: int) -> list[int]:
        tokens = list(prompt)
        for _ in range(n):
            ids, _, _, _ = insert_landmarks(tokens, [len(tokens)], [0], mem_freq, landmark)
            logits = text_logits(model(input_ids=torch.tensor([ids])).logits[0], ids, landmark, cached.from_landmark)
            tokens.append(int(logits[-1].argmax()))
        return tokens[len(prompt):]

    def found(ids: list[int], key: int) -> bool:
        match = re.match(r"\s*(\d+)", tokenizer.decode(ids, skip_special_tokens=True))
        return bool(match) and match.group(1) == str(key)

    rng = random.Random(0)
    same = hits_cache = hits_whole = 0
    for _ in range(args.prompts):
        key = rng.randint(10000, 99999)
        prompt = code_prompt(tokenizer, filler, args.length, rng.choice([0, 0.25, 0.5, 0.75, 1.0]), key, rng)
        n = len(_ids(tokenizer, f" {key}")) + 2
        through_cache = cached.generate(torch.tensor([prompt]), max_new_tokens=n)[0, len(prompt):].tolist()
        whole = whole_forward(prompt, n)
        same += through_cache == whole
        hits_cache += found(through_cache, key)
        hits_whole += found(whole, key)
        print(f"{key}: cache {tokenizer.decode(through_cache)!r}, whole forward {tokenizer.decode(whole)!r}", flush=True)
    print(f"\n{args.prompts} prompts at {args.length}: {same} answers the same; key found {hits_cache} times through "
          f"the cache, {hits_whole} times by the whole forward")


if __name__ == "__main__":
    main()
