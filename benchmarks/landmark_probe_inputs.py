"""What the landmark probes share: a checkpoint read for evaluation (its block cache) and the filler
lines of FoT's grid (the first 16 held-out documents of tiny-fot's eval sources) to build prompts."""
from __future__ import annotations

import argparse


def probe_inputs(description: str, default_prompts: int):
    """Parse CHECKPOINT [--length] [--prompts]; returns (args, tokenizer, cached model, filler lines)."""
    from transformers import AutoTokenizer

    from longft.data.sources import load_documents
    from longft.eval.passkey import filler_lines_from
    from longft.eval.run import load_for_eval
    from longft.validation import load_recipe

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoint")
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--prompts", type=int, default=default_prompts)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    cached = load_for_eval(args.checkpoint)
    texts = [d["text"] for d in load_documents(load_recipe("tiny-fot").eval.sources)][:16]  # FoT's grid
    return args, tokenizer, cached, filler_lines_from(texts, tokenizer)
