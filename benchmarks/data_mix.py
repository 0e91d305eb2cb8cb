"""The flat corpus against data mixes on the testbed, from one measured run.

    python benchmarks/data_mix.py [--out runs/data-mix]

Each row fine-tunes the same testbed base with the embedded default's YaRN x4 recipe, the same
steps, tokens per step and token budget; only the data differs: the flat corpus (data/testbed.yaml,
files in path order up to the budget), the library's parts at fixed shares with documents drawn at
random (data/stdlib-parts.yaml, the control for the two length policies), the ProLong-style
long/short mix (data/stdlib-long-short.yaml) and the per-source upsampled mix
(data/stdlib-upsampled.yaml). All are scored by longft's one evaluation
path on the same held-out documents (perplexity at L..4L, passkey) and written as a table, a JSON
report and a plot. Runs are resumable (finished stages skip).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

# (label, output folder, recipe, overrides)
ROWS = [
    ("flat corpus (data/testbed)", "flat", "tiny-yarn-4x", {}),
    ("parts, fixed shares (data/stdlib-parts)", "parts", "tiny-yarn-4x", {"data": {"mix": "stdlib-parts"}}),
    ("long/short 60/40 (data/stdlib-long-short)", "long-short", "tiny-yarn-4x-mix", {}),
    ("upsampled x3 (data/stdlib-upsampled)", "upsampled", "tiny-yarn-4x", {"data": {"mix": "stdlib-upsampled"}}),
]


def long_share(packed_dir: Path, seq_len: int) -> float:
    """Share of the trained tokens in documents that fill a whole pack."""
    import datasets

    packed = datasets.load_from_disk(str(packed_dir))
    lens = [n for row in packed["doc_lens"] for n in row]
    return sum(n for n in lens if n >= seq_len) / sum(lens)


def main() -> None:
    from longft.data.prepare import packed_cache_key
    from longft.eval.report import write_report
    from longft.eval.run import load_for_eval
    from longft.eval.suite import evaluate_model
    from longft.models import NAMED_MODELS
    from longft.paths import cache_home
    from longft.positions.schemes import target_length
    from longft.pipeline import run_recipe
    from longft.validation import load_recipe
    from longft.recipe.parsing import deep_merge
    from transformers import AutoTokenizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/data-mix")
    args = parser.parse_args()
    out = Path(args.out)
    started = time.time()
    base = NAMED_MODELS["testbed"]()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    finals = {}
    for i, (label, folder, name, overrides) in enumerate(ROWS, 1):
        print(f"[data-mix] training {i}/{len(ROWS)}: {label}", flush=True)
        recipe = load_recipe(name, deep_merge(overrides, {"eval": {"enabled": False}, "output_dir": str(out / folder)}))
        t0 = time.time()
        result = run_recipe(recipe)
        share = long_share(cache_home() / "packed" / packed_cache_key(recipe.data, tokenizer), recipe.data.seq_len)
        finals[label] = (result["output"], time.time() - t0, share)

    reference = load_recipe("tiny-yarn-4x")
    ev = reference.eval
    window, target = reference.position.original_max_position_embeddings, target_length(reference)
    results = [evaluate_model(load_for_eval(base), tokenizer, ev, window, target, "base, no scaling")]
    for label, (path, seconds, share) in finals.items():
        result = evaluate_model(load_for_eval(path), tokenizer, ev, window, target, label)
        result.update(train_seconds=round(seconds, 1), long_token_share=round(share, 3))
        results.append(result)
    table = write_report(results, window, target, out / "report", extra={"rows": {label: [name, overrides] for label, _, name, overrides in ROWS}})
    print(f"\n[data-mix] held-out perplexity by context length (window {window}); {time.time() - started:.0f}s\n{table}")
    print("\nshare of trained tokens in documents that fill a whole pack: "
          + ", ".join(f"{label}: {share:.0%}" for label, (_, _, share) in finals.items()))


if __name__ == "__main__":
    main()
