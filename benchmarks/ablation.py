"""Ablation on the testbed: position and attention methods side by side, from one measured run.

    python benchmarks/ablation.py [--out runs/ablation] [--factor 4]

Every trained method extends the same testbed base with the same data, steps and tokens per step
(the `_testbed` recipe); zero-shot rows are the base with the method switched on and no training.
All are scored by longft's one evaluation path on the same held-out documents, and written as a
table, a JSON report and a perplexity-by-length plot. Runs are resumable (finished stages skip).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from side_by_side import score_models, train_recipes  # benchmarks/ is the script's folder

# (label, recipe) trained at the factor; recipes named tiny-<method>-<factor>x
TRAINED = [
    ("PI (linear)", "tiny-pi-{f}x"),
    ("YaRN", "tiny-yarn-{f}x"),
    ("PoSE + YaRN (trained at 256)", "tiny-pose-{f}x"),
    ("randomized positions", "tiny-randomized-{f}x"),
    ("shifted positions (trained at 256)", "tiny-shifted-{f}x"),
    ("log-n, fine-tuned", "tiny-logn-{f}x"),
    ("hybrid window-full, fine-tuned", "tiny-hybrid-{f}x"),
]
# the base with no training: log-n / hybrid attention, and StreamingLLM's sink cache (4 sink tokens +
# the most recent ones, the original window in all)
ZERO_SHOT = ["logn", "hybrid", "sinks"]


def main() -> None:
    from longft.eval.report import write_report
    from longft.recipe.loading import recipe_names
    from longft.positions.schemes import target_length
    from longft.validation import load_recipe

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--skip", nargs="*", default=[], help="zero-shot rows to leave out, e.g. sinks")
    args = parser.parse_args()
    out, f = Path(args.out), args.factor
    started = time.time()
    trained = [(label, name.format(f=f)) for label, name in TRAINED if name.format(f=f) in recipe_names()]
    missing = [name.format(f=f) for _, name in TRAINED if name.format(f=f) not in recipe_names()]
    if missing:
        print(f"[ablation] no recipe for {missing} at x{f}: left out", flush=True)
    finals = train_recipes(trained, out, "ablation")

    reference = load_recipe(f"tiny-yarn-{f}x")
    ev = reference.eval
    ev.passkey_trials, ev.passkey_depths = 1, [0.5]  # perplexity is what this table compares
    window, target = reference.position.original_max_position_embeddings, target_length(reference)
    results = score_models(finals, [m for m in ZERO_SHOT if m not in args.skip], ev, window, target)
    table = write_report(results, window, target, out / f"report-x{f}", extra={"factor": f, "trained": dict(trained)})
    print(f"\n[ablation] x{f}: held-out perplexity by context length (window {window}); {time.time() - started:.0f}s\n{table}")
    print("\ntraining wall-clock (s): " + ", ".join(f"{label}: {s:.0f}" for label, (_, s) in finals.items()))


if __name__ == "__main__":
    main()
