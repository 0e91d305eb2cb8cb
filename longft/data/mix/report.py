"""What a sampled mix holds next to what it was asked to hold: tokens by source, by part of the
long/short split and by length bucket, as a printed table, a dict (kept with the packed data)
and a histogram plot."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .sampling import Cell

# Length buckets: [2^k, 2^(k+1)) tokens, with everything below 128 and from 128k up lumped.
LOW_EXP, HIGH_EXP = 7, 17


def bucket_labels() -> list[str]:
    def size(n: int) -> str:
        return f"{n // 1024}k" if n >= 1024 else str(n)

    inner = [f"{size(2 ** k)}-{size(2 ** (k + 1))}" for k in range(LOW_EXP, HIGH_EXP)]
    return [f"<{size(2 ** LOW_EXP)}"] + inner + [f">={size(2 ** HIGH_EXP)}"]


def bucket_of(lengths: np.ndarray) -> np.ndarray:
    exp = np.floor(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    return np.clip(exp - LOW_EXP + 1, 0, HIGH_EXP - LOW_EXP + 1)


def token_histogram(doc_lengths: np.ndarray, tokens: np.ndarray) -> list[int]:
    """Tokens per bucket of the length of the document they come from."""
    return np.bincount(bucket_of(doc_lengths), weights=tokens, minlength=len(bucket_labels())).astype(np.int64).tolist()


def build_report(mix, piece_lengths: list[np.ndarray], doc_lengths: list[np.ndarray], cells: list[Cell]) -> dict:
    """Tokens are counted by the length of the document each piece comes from."""
    from .sampling import kept_by_filter, part_fractions

    sources = []
    for i, ms in enumerate(mix.sources):
        lens, docs = piece_lengths[i], doc_lengths[i]
        mine = [c for c in cells if c.source == ms.name]
        copies = np.zeros(len(lens), dtype=np.int64)
        for c in mine:
            copies[c.pieces] += c.copies
        keep = kept_by_filter(ms, docs)
        sources.append({
            "name": ms.name,
            "weight": ms.weight,
            "tokens": int(lens.sum()),
            "filtered_tokens": int(lens[~keep].sum()),
            "target_tokens": round(sum(c.target for c in mine)),
            "sampled_tokens": int((lens * copies).sum()),
            "sampled_pieces": int(copies.sum()),
            "max_copies": int(copies.max(initial=0)),
            "repeated_tokens": int((lens * np.maximum(copies - 1, 0)).sum()),
            "capped_parts": [c.part for c in mine if c.capped],
            "parts": {c.part: {"target_tokens": round(c.target), "sampled_tokens": int((lens[c.pieces] * c.copies).sum())}
                      for c in mine},
            "histogram_available": token_histogram(docs[keep], lens[keep]),
            "histogram_sampled": token_histogram(docs, lens * copies),
        })
    total = sum(s["sampled_tokens"] for s in sources)
    parts = {}
    for part, fraction in part_fractions(mix).items():
        got = sum(s["parts"].get(part, {}).get("sampled_tokens", 0) for s in sources)
        parts[part] = {"target_fraction": fraction, "fraction": got / total if total else 0.0, "tokens": got}
    return {
        "name": mix.name,
        "seed": mix.seed,
        "target_tokens": round(sum(c.target for c in cells)),
        "sampled_tokens": total,
        "long_min_tokens": mix.long_short.long_min_tokens if mix.long_short else None,
        "parts": parts,
        "sources": sources,
        "buckets": bucket_labels(),
    }


def format_report(report: dict) -> str:
    total = report["sampled_tokens"] or 1
    target = report["target_tokens"] or 1
    lines = [
        f"[mix] {report['name']} (seed {report['seed']}): {report['sampled_tokens']:,} tokens sampled, "
        f"target {report['target_tokens']:,}",
        f"  {'source':<16}{'share':>8}{'target':>8}{'weight':>8}{'tokens':>12}{'pieces':>8}{'available':>12}{'max x':>7}{'repeated':>10}",
    ]
    for s in report["sources"]:
        lines.append(
            f"  {s['name']:<16}{s['sampled_tokens'] / total:>8.1%}{s['target_tokens'] / target:>8.1%}{s['weight']:>8.1%}"
            f"{s['sampled_tokens']:>12,}{s['sampled_pieces']:>8}{s['tokens'] - s['filtered_tokens']:>12,}"
            f"{s['max_copies']:>7}{s['repeated_tokens']:>10,}"
        )
        if s["capped_parts"]:
            lines.append(f"  {'':<16}  has fewer {'/'.join(s['capped_parts'])} tokens than its weight asks: all taken, "
                         "the other sources make up the rest")
    if report["long_min_tokens"] is not None:
        split = ", ".join(f"{part} {p['fraction']:.1%} (target {p['target_fraction']:.0%})" for part, p in report["parts"].items())
        lines.append(f"  long (>= {report['long_min_tokens']} tokens) / short: {split}")
    labels = report["buckets"]
    used = [k for k in range(len(labels)) if any(s["histogram_available"][k] or s["histogram_sampled"][k] for s in report["sources"])]
    lines.append("  tokens by the length of their document, sampled (available):")
    lines.append("  " + f"{'':<16}" + "".join(f"{labels[k]:>17}" for k in used))
    for s in report["sources"]:
        cells = "".join(f"{_short(s['histogram_sampled'][k]) + ' (' + _short(s['histogram_available'][k]) + ')':>17}" for k in used)
        lines.append(f"  {s['name']:<16}{cells}")
    return "\n".join(lines)


def _short(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    return str(n)


def plot_report(report: dict, out: Path) -> None:
    """Share of each source's tokens by document length: available (light) against sampled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["buckets"]
    used = [k for k in range(len(labels)) if any(s["histogram_available"][k] or s["histogram_sampled"][k] for s in report["sources"])]
    n = len(report["sources"])
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1, 3.4), sharey=True, squeeze=False)
    x = np.arange(len(used))
    for ax, s in zip(axes[0], report["sources"]):
        for key, offset, style in (("histogram_available", -0.2, {"alpha": 0.35, "label": "available"}),
                                   ("histogram_sampled", 0.2, {"label": "sampled"})):
            values = np.array([s[key][k] for k in used], dtype=float)
            ax.bar(x + offset, values / max(values.sum(), 1), width=0.4, **style)
        ax.set_title(f"{s['name']}: {s['sampled_tokens'] / max(report['sampled_tokens'], 1):.0%} of tokens", fontsize=9)
        ax.set_xticks(x, [labels[k] for k in used], rotation=60, fontsize=7)
        ax.set_xlabel("document length (tokens)", fontsize=8)
    axes[0][0].set_ylabel("share of the source's tokens")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"data mix {report['name']}: token share by document length", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
