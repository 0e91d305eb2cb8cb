"""Retrieval on the testbed: passkey and the RULER-style suite for the base and the x4 extensions,
from one measured run.

    python benchmarks/retrieval_grid.py [--out runs/retrieval] [--ruler-trials 2]

Trains (or reuses: finished stages skip) tiny-yarn-4x, tiny-pi-4x, tiny-longlora and tiny-longrope,
then scores the base and each of them by longft's one evaluation path on the same held-out text:
perplexity, the passkey grid and the RULER-style tasks at 1x, 2x and 4x the base's window, with the
effective length relative to the base's own score at its window. Writes the report (JSON, table,
perplexity and passkey plots, one depth x length heatmap per RULER task).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from side_by_side import score_models, train_recipes  # benchmarks/ is the script's folder

TRAINED = [("tiny-yarn-4x", "tiny-yarn-4x"), ("tiny-pi-4x", "tiny-pi-4x"), ("tiny-longlora", "tiny-longlora"),
           ("tiny-longrope", "tiny-longrope")]


def main() -> None:
    from longft.eval.report import write_report
    from longft.eval.ruler.effective_length import add_effective_lengths
    from longft.positions.schemes import target_length
    from longft.validation import load_recipe

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/retrieval")
    parser.add_argument("--ruler-trials", type=int, default=2, help="samples per RULER task, length and depth")
    args = parser.parse_args()
    out = Path(args.out)
    started = time.time()
    finals = train_recipes(TRAINED, out, "retrieval")

    reference = load_recipe("tiny-yarn-4x")
    ev = reference.eval
    window, target = reference.position.original_max_position_embeddings, target_length(reference)
    ev.suites = ["standard", "ruler"]
    ev.passkey_lengths = [window, 2 * window, target]
    ev.ruler_lengths = [window, 2 * window, target]
    ev.ruler_trials = args.ruler_trials
    results = score_models(finals, [], ev, window, target)
    add_effective_lengths(results, window, ev.ruler_threshold_ratio, reference=0)
    table = write_report(results, window, target, out / "report-retrieval", extra={"trained": dict(TRAINED)})
    print(f"\n[retrieval] base and x4 extensions (window {window}); {time.time() - started:.0f}s\n{table}")


if __name__ == "__main__":
    main()
