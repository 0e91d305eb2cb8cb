"""FoT on the testbed against rope scaling, out to 32x the window, from one measured run.

    python benchmarks/fot_testbed.py [--out runs/fot] [--passkey-lengths 256 2048 8192] [--passkey-trials 8]

Trains `tiny-fot`, `tiny-fot-pi` and `tiny-yarn-8x` (resumable: finished stages skip), then scores
them with the base, and the base with YaRN and PI at the longest length's factor zero-shot, by
longft's one evaluation path on the same held-out documents: fixed-target perplexity with growing
context (the FoT models read it through their memory cache) and passkey retrieval. Writes a table,
a JSON report and the plots.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from side_by_side import score_models, train_recipes  # benchmarks/ is the script's folder

TRAINED = [("FoT (tiny-fot)", "tiny-fot"), ("FoT + PI x2 (tiny-fot-pi)", "tiny-fot-pi"), ("YaRN x8 (tiny-yarn-8x)", "tiny-yarn-8x")]
ZERO_SHOT = ["yarn", "linear"]


def main() -> None:
    from longft.eval.report import write_report
    from longft.validation import load_recipe

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/fot")
    parser.add_argument("--passkey-lengths", type=int, nargs="+", default=[256, 2048, 8192])
    parser.add_argument("--passkey-trials", type=int, default=8, help="keys per length and depth")
    args = parser.parse_args()
    out = Path(args.out)
    started = time.time()
    finals = train_recipes(TRAINED, out, "fot")

    reference = load_recipe("tiny-fot")
    ev = reference.eval
    ev.passkey_lengths, ev.passkey_trials = args.passkey_lengths, args.passkey_trials
    window = reference.position.original_max_position_embeddings
    target = max(ev.context_lengths)
    results = score_models(finals, ZERO_SHOT, ev, window, target)
    table = write_report(results, window, target, out / "report", extra={"trained": dict(TRAINED)})
    print(f"\n[fot] held-out perplexity and passkey by context length (window {window}); {time.time() - started:.0f}s\n{table}")
    print("\ntraining wall-clock (s): " + ", ".join(f"{label}: {s:.0f}" for label, (_, s) in finals.items()))


if __name__ == "__main__":
    main()
