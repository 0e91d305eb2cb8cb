"""The report a person looks at: perplexity curves and passkey heatmaps (PNG), JSON, a table."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_perplexity(results: list[dict], window: int, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for r in results:
        xs = [int(k) for k in r["fixed_target_ppl"]]
        ax.plot(xs, list(r["fixed_target_ppl"].values()), marker="o", label=r["label"])
    values = [v for r in results for v in r["fixed_target_ppl"].values()]
    if values and max(values) > 10 * min(values):  # a cliff past the window would flatten every other line
        ax.set_yscale("log")
    ax.axvline(window, color="grey", linestyle="--", linewidth=1)
    ax.text(window, ax.get_ylim()[1], " original window", va="top", fontsize=8, color="grey")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel(f"perplexity of the last {results[0]['target_tokens']} tokens")
    ax.set_title("Held-out perplexity by context length (fixed target)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7 if len(results) > 5 else None)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_passkey(results: list[dict], out: Path) -> None:
    fig, axes = plt.subplots(
        1, len(results), figsize=(4.6 * len(results) + 1, 3.8), squeeze=False, constrained_layout=True
    )
    for ax, r in zip(axes[0], results):
        grid = r["passkey"]
        im = ax.imshow(grid["accuracy"], vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(grid["depths"])), [f"{d:.0%}" for d in grid["depths"]])
        ax.set_yticks(range(len(grid["lengths"])), grid["lengths"])
        for i, row in enumerate(grid["accuracy"]):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8)
        ax.set_xlabel("needle depth")
        ax.set_ylabel("prompt length (tokens)")
        ax.set_title(f"passkey: {r['label']}")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="exact-match accuracy")
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_ruler_task(results: list[dict], task: str, out: Path) -> None:
    """The needle-in-a-haystack picture: x = context length, y = depth, red (0) to green (100)."""
    fig, axes = plt.subplots(1, len(results), figsize=(3.8 * len(results) + 1, 3.6), squeeze=False,
                             constrained_layout=True)
    for ax, r in zip(axes[0], results):
        entry = r["ruler"]["tasks"][task]
        lengths = r["ruler"]["lengths"]
        grid = [[100 * entry["scores"][str(n)][i] for n in lengths] for i in range(len(entry["depths"]))]
        im = ax.imshow(grid, vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(lengths)), lengths)
        ax.set_yticks(range(len(entry["depths"])),
                      ["-" if d is None else f"{d:.0%}" for d in entry["depths"]])
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8)
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("needle depth")
        ax.set_title(r["label"], fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=f"score ({results[0]['ruler']['scoring']})")
    fig.suptitle(f"RULER {task}")
    fig.savefig(out, dpi=110)
    plt.close(fig)


def ruler_rows(results: list[dict]) -> list[list[str]]:
    """Model x length: the average over tasks, and the effective length."""
    lengths = results[0]["ruler"]["lengths"]
    rows = [["model"] + [f"ruler@{n}" for n in lengths] + ["effective length"]]
    for r in results:
        ru = r["ruler"]
        rows.append([r["label"]] + [f"{100 * ru['average'][str(n)]:.1f}" for n in lengths]
                    + [str(ru["effective_length"]) if ru.get("effective_length") is not None else "undefined"])
    return rows


def effective_rule(ruler: dict) -> str:
    if ruler.get("threshold") is None:
        return ruler.get("threshold_rule", "not computed")
    return (f"the longest length up to which the average stays >= {100 * ruler['threshold']:.1f} "
            f"({ruler['threshold_rule']})")


def ruler_task_rows(results: list[dict]) -> list[list[str]]:
    lengths = results[0]["ruler"]["lengths"]
    tasks = list(results[0]["ruler"]["tasks"])
    rows = [["model", "task"] + [str(n) for n in lengths]]
    for r in results:
        for t in tasks:
            avg = r["ruler"]["tasks"][t]["average"]
            rows.append([r["label"], t] + [f"{100 * avg[str(n)]:.0f}" for n in lengths])
    return rows


def summary_rows(results: list[dict], window: int) -> list[list[str]]:
    lengths = sorted({int(k) for r in results for k in r["fixed_target_ppl"]})
    rows = [["model"] + [f"ppl@{n}" for n in lengths] + [f"passkey@{n}" for n in results[0]["passkey"]["lengths"]]]
    for r in results:
        ppl = [f"{r['fixed_target_ppl'][str(n)]:.3f}" if str(n) in r["fixed_target_ppl"] else "-" for n in lengths]
        acc = [f"{sum(row) / len(row):.0%}" for row in r["passkey"]["accuracy"]]
        rows.append([r["label"]] + ppl + acc)
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_report(results: list[dict], window: int, target_len: int, out_dir: Path, extra: dict | None = None) -> str:
    """Written whole beside `out_dir`, then renamed into place (an older report is replaced whole)."""
    from ..outputs import recover_folder, replace_folder, staging_folder

    out_dir = Path(out_dir)
    recover_folder(out_dir)
    tmp = staging_folder(out_dir)
    payload = {"original_window": window, "target_length": target_len, "models": results, **(extra or {})}
    (tmp / "report.json").write_text(json.dumps(payload, indent=2))
    tables = []
    if "fixed_target_ppl" in results[0]:
        plot_perplexity(results, window, tmp / "perplexity_by_length.png")
        plot_passkey(results, tmp / "passkey_grid.png")
        tables.append(format_table(summary_rows(results, window)))
    if "ruler" in results[0]:
        ru = results[0]["ruler"]
        for task in ru["tasks"]:
            plot_ruler_task(results, task, tmp / f"ruler_{task}.png")
        tables.append(
            f"RULER-style tasks ({ru['scoring']} scoring, {ru['template']} template, {ru['trials']} samples per "
            f"task, length and depth); effective length: {effective_rule(results[-1]['ruler'])}\n"
            + format_table(ruler_rows(results)) + "\n\n" + format_table(ruler_task_rows(results))
        )
    table = "\n\n".join(tables)
    (tmp / "summary.txt").write_text(table + "\n")
    replace_folder(tmp, out_dir)
    return table
