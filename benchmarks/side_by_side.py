"""What the comparison benchmarks share: train the recipes set side by side, each into its own
folder under the benchmark's output, without its own evaluation, resumable (finished stages skip);
then score the base, the base with methods switched on zero-shot, and the trained models by
longft's one evaluation path on the same held-out documents."""
from __future__ import annotations

import time
from pathlib import Path


def train_recipes(named: list[tuple], out: Path, label: str) -> dict[str, tuple[str, float]]:
    """{row label: (final checkpoint, training wall-clock seconds)} for (row label, recipe) pairs, or
    (row label, recipe, overrides, output folder name) where the recipe is run with changes."""
    from longft.pipeline import run_recipe
    from longft.validation import load_recipe

    finals = {}
    for i, (row, name, *changed) in enumerate(named, 1):
        overrides, folder = changed if changed else ({}, name)
        print(f"[{label}] training {i}/{len(named)}: {name} {overrides or ''}", flush=True)
        t0 = time.time()
        result = run_recipe(load_recipe(name, {**overrides, "eval": {"enabled": False}, "output_dir": str(out / folder)}))
        finals[row] = (result["output"], time.time() - t0)
    return finals


def score_models(finals: dict[str, tuple[str, float]], zero_shot: list[str], ev, window: int, target: int) -> list[dict]:
    """The base, the base with each zero-shot method, then each trained model (with its training time)."""
    from transformers import AutoTokenizer

    from longft.eval.run import load_for_eval, ruler_haystack, zero_shot_model
    from longft.eval.ruler.run import ruler_lengths
    from longft.eval.suite import evaluate_model
    from longft.models import NAMED_MODELS

    base = NAMED_MODELS["testbed"]()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    # the RULER tasks' held-out text, when the suite is asked for: built once, shared by every row
    haystack = ruler_haystack(tokenizer, ev, ruler_lengths(ev, window, target)) if "ruler" in ev.suites else None
    results = [evaluate_model(load_for_eval(base), tokenizer, ev, window, target, "base, no scaling", haystack)]
    for method in zero_shot:
        model, label = zero_shot_model(str(base), method, window, target)
        results.append(evaluate_model(model, tokenizer, ev, window, target, label, haystack))
    for label, (path, seconds) in finals.items():
        result = evaluate_model(load_for_eval(path), tokenizer, ev, window, target, label, haystack)
        result["train_seconds"] = round(seconds, 1)
        results.append(result)
    return results
