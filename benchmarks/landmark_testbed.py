"""Landmark attention on the testbed, on FoT's grid, out to 32x the window, from one measured run.

    python benchmarks/landmark_testbed.py [--out runs/landmark] [--with-fot [--fot-mix testbed-fot-passkey]]
                                          [--passkey-trials 8] [--landmark-steps 1800 [--landmark-mix testbed-landmark-x3]]

Trains `tiny-landmark` (and with --with-fot `tiny-fot` too, on its own data or with --fot-mix on
another mix, e.g. the one with passkey-form drills as tiny-landmark has; resumable: finished stages
skip; --landmark-steps trains tiny-landmark for that many steps instead of its recipe's, e.g. FoT's
1,800, with --landmark-mix on a larger mix so that no token is read twice), then
scores the base and the trained models by longft's one evaluation path on the grid of
benchmarks/fot_testbed.py: the same held-out documents, fixed-target perplexity with growing
context (the landmark model read through its block cache, FoT through its memory cache) and
passkey retrieval at 256, 2048 and 8192 tokens, 5 depths. Writes a table, a JSON report and plots.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from side_by_side import score_models, train_recipes  # benchmarks/ is the script's folder


def main() -> None:
    from longft.eval.report import write_report
    from longft.validation import load_recipe

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/landmark")
    parser.add_argument("--with-fot", action="store_true", help="train and score tiny-fot in the same run")
    parser.add_argument("--fot-mix", help="train tiny-fot on this data mix (data/<name>.yaml) instead of its own")
    parser.add_argument("--passkey-lengths", type=int, nargs="+", default=[256, 2048, 8192])
    parser.add_argument("--passkey-trials", type=int, default=8, help="keys per length and depth")
    parser.add_argument("--landmark-steps", type=int, help="train tiny-landmark for this many steps, its "
                        "data.max_train_tokens scaled alike (default: the recipe's); the mix's own tokens still "
                        "bound what is read, so more steps on the recipe's mix read it again")
    parser.add_argument("--landmark-mix", help="train tiny-landmark on this data mix (data/<name>.yaml) instead of its own")
    args = parser.parse_args()
    out = Path(args.out)
    started = time.time()
    trained = [("landmark (tiny-landmark)", "tiny-landmark")]
    if args.landmark_steps or args.landmark_mix:
        recipe = load_recipe("tiny-landmark")
        steps = args.landmark_steps or recipe.train.max_steps
        mix = args.landmark_mix or recipe.data.mix
        data = {"mix": mix, "max_train_tokens": int(recipe.data.max_train_tokens * steps / recipe.train.max_steps)}
        trained = [(f"landmark (tiny-landmark, {steps} steps, data {mix})", "tiny-landmark",
                    {"train": {"max_steps": steps}, "data": data}, f"tiny-landmark-{steps}steps-{mix}")]
    if args.with_fot and args.fot_mix:
        trained.append((f"FoT (tiny-fot, data {args.fot_mix})", "tiny-fot", {"data": {"mix": args.fot_mix}},
                        f"tiny-fot-{args.fot_mix}"))
    elif args.with_fot:
        trained.append(("FoT (tiny-fot)", "tiny-fot"))
    finals = train_recipes(trained, out, "landmark")

    reference = load_recipe("tiny-fot")  # FoT's grid: its documents, lengths and depths
    ev = reference.eval
    ev.passkey_lengths, ev.passkey_trials = args.passkey_lengths, args.passkey_trials
    window = reference.position.original_max_position_embeddings
    target = max(ev.context_lengths)
    results = score_models(finals, [], ev, window, target)
    table = write_report(results, window, target, out / "report",
                         extra={"trained": {row: [name, *changed] for row, name, *changed in trained}})
    print(f"\n[landmark] held-out perplexity and passkey by context length (window {window}); "
          f"{time.time() - started:.0f}s\n{table}")
    print("\ntraining wall-clock (s): " + ", ".join(f"{label}: {s:.0f}" for label, (_, s) in finals.items()))


if __name__ == "__main__":
    main()
