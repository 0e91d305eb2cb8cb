"""What a search leaves behind: JSON files (state, factors) and a plot of perplexity by generation."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_search_history(history: list[dict], seeds: dict[str, float], title: str, out: Path) -> None:
    gens = [h["generation"] for h in history]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(gens, [h["best"] for h in history], marker="o", label="best in population")
    ax.plot(gens, [h["median"] for h in history], marker=".", linestyle="--", label="median of population")
    for (name, ppl), color in zip(sorted(seeds.items()), ("tab:grey", "tab:olive", "tab:purple", "tab:brown")):
        ax.axhline(ppl, color=color, linewidth=1, linestyle=":", label=f"seed {name}: {ppl:.2f}")
    ax.set_xlabel("generation")
    ax.set_ylabel("perplexity (search documents)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
