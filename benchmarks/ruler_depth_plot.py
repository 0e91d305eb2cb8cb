"""One RULER task across several reports: its score by length per model, and at the longest length
which needle depths each model found.

    python benchmarks/ruler_depth_plot.py REPORT.json [REPORT.json ...] --task niah_single_1 \
        --out docs/images/smollm2_ruler16_niah_single_1.png [--window 8192] [--title TEXT] [--label OLD=NEW ...]

A model in several reports is taken from the first that has the task (list the newest first). Models
come in the order of the reports and their rows. Cells a model was not scored on stay blank.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def task_scores(paths: list[Path], task: str, labels: dict[str, str] | None = None) -> dict[str, dict]:
    """{model label: {"depths": [...], "scores": {length: [score per depth]}}} for `task`, a report's
    label renamed where `labels` names it."""
    found: dict[str, dict] = {}
    for path in paths:
        for model in json.loads(path.read_text())["models"]:
            got = model.get("ruler", {}).get("tasks", {}).get(task)
            label = (labels or {}).get(model["label"], model["label"])
            if got and label not in found:
                found[label] = {"depths": got["depths"], "scores": {int(n): s for n, s in got["scores"].items()}}
    return found


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--task", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--window", type=int, help="the models' original window, dotted")
    parser.add_argument("--title", default="")
    parser.add_argument("--label", nargs="+", default=[], metavar="OLD=NEW",
                        help="show a report's model label OLD as NEW (e.g. a base folder's name as 'base')")
    args = parser.parse_args()
    bad = [pair for pair in args.label if "=" not in pair]
    if bad:
        raise SystemExit(f"--label {bad[0]!r}: give OLD=NEW, a report's model label and the name to show")
    models = task_scores(args.reports, args.task, dict(pair.split("=", 1) for pair in args.label))
    if not models:
        raise SystemExit(f"no report among {[str(p) for p in args.reports]} has RULER task {args.task!r}")
    lengths = sorted({n for m in models.values() for n in m["scores"]})
    longest = lengths[-1]
    depths = sorted({d for m in models.values() for d in m["depths"]})

    fig, (by_length, by_depth) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.5, 1]})
    markers, styles = "osD^vP*X", ["-", "--", "-.", ":"]
    for i, (label, m) in enumerate(models.items()):  # shrinking markers, so that equal scores stay visible
        xs = [n for n in lengths if n in m["scores"]]
        by_length.plot(xs, [100 * sum(m["scores"][n]) / len(m["scores"][n]) for n in xs], label=label,
                       marker=markers[i % len(markers)], markersize=max(3, 11 - 1.5 * i),
                       linestyle=styles[i % len(styles)])
    if args.window:
        by_length.axvline(args.window, color="grey", linestyle=":", linewidth=1)
    by_length.set_xscale("log", base=2)
    by_length.set_xticks(lengths, [f"{n // 1024}k" for n in lengths])
    by_length.set_xlabel("context length (tokens)" + ("; dotted: the window" if args.window else ""))
    by_length.set_ylabel(f"{args.task}, % of needles found")
    by_length.set_ylim(-5, 105)
    by_length.legend(fontsize=7, loc="lower left")

    grid = np.full((len(models), len(depths)), np.nan)
    for i, m in enumerate(models.values()):
        for d, score in zip(m["depths"], m["scores"].get(longest, [])):
            grid[i, depths.index(d)] = score
    by_depth.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    by_depth.set_xticks(range(len(depths)), [f"{d:g}" for d in depths])
    by_depth.set_yticks(range(len(models)), list(models), fontsize=7)
    by_depth.set_xlabel(f"needle depth at {longest:,} tokens (0: the start)")
    for i in range(len(models)):
        for j in range(len(depths)):
            if not np.isnan(grid[i, j]):
                by_depth.text(j, i, "found" if grid[i, j] >= 1 else "missed", ha="center", va="center", fontsize=7)
    fig.suptitle(args.title or f"RULER {args.task}", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}: {len(models)} models, lengths {lengths}, depths {depths}")


if __name__ == "__main__":
    main()
