"""Pack whole documents into fixed-length sequences without letting them see each other.

Documents longer than the window follow a stated policy (chunk | truncate | drop); the
pieces are placed by best-fit decreasing; every input token is either kept or counted
as dropped with its reason. A pack stores its tokens and its document lengths; the
collator turns the lengths into per-document position ids and loss masks.
"""
from __future__ import annotations

import bisect
import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
from tqdm.auto import tqdm

PACKER_VERSION = 2


@dataclass
class PackStats:
    seq_len: int
    split_policy: str
    documents_in: int = 0
    tokens_in: int = 0
    documents_kept: int = 0
    documents_split: int = 0
    documents_truncated: int = 0
    documents_dropped_long: int = 0
    documents_dropped_short: int = 0
    pieces: int = 0
    tokens_kept: int = 0
    tokens_dropped_long: int = 0  # cut off by truncate / drop
    tokens_dropped_short: int = 0  # documents or chunk tails under min_doc_tokens
    tokens_dropped_budget: int = 0  # past max_train_tokens
    packs: int = 0
    fill_rate: float = 0.0
    extra: dict = field(default_factory=dict)

    def conserved(self) -> bool:
        dropped = self.tokens_dropped_long + self.tokens_dropped_short + self.tokens_dropped_budget
        return self.tokens_in == self.tokens_kept + dropped

    def report(self) -> str:
        dropped = self.tokens_in - self.tokens_kept
        return (
            f"packed {self.documents_in} documents / {self.tokens_in:,} tokens into {self.packs} sequences "
            f"of {self.seq_len}: fill rate {self.fill_rate:.1%}\n"
            f"  kept {self.tokens_kept:,} tokens from {self.documents_kept} documents "
            f"({self.documents_split} split into chunks, {self.documents_truncated} truncated; policy={self.split_policy})\n"
            f"  dropped {dropped:,} tokens: {self.tokens_dropped_long:,} past the window, "
            f"{self.tokens_dropped_short:,} in pieces shorter than the minimum, "
            f"{self.tokens_dropped_budget:,} past the token budget; "
            f"{self.documents_dropped_long} documents dropped as too long, {self.documents_dropped_short} as too short"
        )


def split_documents(
    lengths: list[int], seq_len: int, policy: str, min_tokens: int, max_tokens: int | None = None
) -> tuple[list[tuple[int, int, int]], PackStats]:
    """Cut documents into pieces of at most seq_len tokens: (document index, start, end)."""
    stats = PackStats(seq_len=seq_len, split_policy=policy)
    pieces: list[tuple[int, int, int]] = []
    budget = max_tokens if max_tokens is not None else float("inf")
    for doc, n in enumerate(lengths):
        stats.documents_in += 1
        stats.tokens_in += n
        if stats.tokens_kept >= budget:
            stats.tokens_dropped_budget += n
            continue
        if n < min_tokens:
            stats.documents_dropped_short += 1
            stats.tokens_dropped_short += n
            continue
        if n <= seq_len:
            spans = [(0, n)]
        elif policy == "drop":
            stats.documents_dropped_long += 1
            stats.tokens_dropped_long += n
            continue
        elif policy == "truncate":
            stats.documents_truncated += 1
            stats.tokens_dropped_long += n - seq_len
            spans = [(0, seq_len)]
        else:  # chunk: consecutive windows, each trained as its own document
            stats.documents_split += 1
            spans = [(s, min(s + seq_len, n)) for s in range(0, n, seq_len)]
        kept_any = False
        for start, end in spans:
            if end - start < min_tokens:
                stats.tokens_dropped_short += end - start
                continue
            pieces.append((doc, start, end))
            stats.tokens_kept += end - start
            kept_any = True
        stats.documents_kept += kept_any
    stats.pieces = len(pieces)
    return pieces, stats


def best_fit_decreasing(sizes: list[int], capacity: int) -> list[list[int]]:
    """Bins of item indices; each item goes to the fullest bin that still has room."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (remaining room, bin id), sorted
    for i in order:
        size = sizes[i]
        if size > capacity:
            raise ValueError(f"item of {size} tokens does not fit a {capacity}-token pack")
        at = bisect.bisect_left(free, (size, -1))
        if at < len(free):
            room, b = free.pop(at)
        else:
            b, room = len(bins), capacity
            bins.append([])
        bins[b].append(i)
        if room - size > 0:
            bisect.insort(free, (room - size, b))
    return bins


def pack_tokenized(
    tokenized: datasets.Dataset,
    seq_len: int,
    policy: str = "chunk",
    min_tokens: int = 2,
    max_tokens: int | None = None,
    seed: int = 0,
) -> tuple[datasets.Dataset, PackStats]:
    # Documents are visited in a seeded random order, so a token budget samples the whole corpus.
    order = list(range(len(tokenized)))
    random.Random(seed).shuffle(order)
    all_lengths = tokenized["length"]
    lengths = [all_lengths[i] for i in order]
    pieces, stats = split_documents(lengths, seq_len, policy, min_tokens, max_tokens)
    bins = best_fit_decreasing([end - start for _, start, end in pieces], seq_len)
    random.Random(seed).shuffle(bins)  # pack order is shuffled, reproducibly
    stats.packs = len(bins)
    stats.fill_rate = stats.tokens_kept / (len(bins) * seq_len) if bins else 0.0
    ids_column = tokenized["input_ids"]
    masked_column = tokenized["masked"] if "masked" in tokenized.column_names else None

    def generate():
        for members in tqdm(bins, desc="packing", mininterval=2):
            ids: list[int] = []
            doc_lens: list[int] = []
            doc_masked: list[int] = []
            for p in members:
                doc, start, end = pieces[p]
                ids.extend(ids_column[order[doc]][start:end])
                doc_lens.append(end - start)
                # leading tokens without loss (a prompt) that fall inside this piece
                masked = masked_column[order[doc]] if masked_column is not None else 0
                doc_masked.append(min(max(masked - start, 0), end - start))
            yield {"input_ids": ids, "doc_lens": doc_lens, "doc_masked": doc_masked}

    int_list = datasets.Sequence(datasets.Value("int32"))
    features = datasets.Features({"input_ids": int_list, "doc_lens": int_list, "doc_masked": int_list})
    if not bins:
        return datasets.Dataset.from_dict({"input_ids": [], "doc_lens": [], "doc_masked": []}, features=features), stats
    packed = datasets.Dataset.from_list(list(generate()), features=features)
    return packed, stats


MANIFEST = "pack_manifest.json"


def _file_sizes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def save_packed(packed: datasets.Dataset, stats: PackStats, out: Path) -> None:
    """Write next to the destination, then rename: a crash never leaves a half-written cache.
    A manifest of file sizes, written last, lets a later load tell a damaged cache apart."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    packed.save_to_disk(str(tmp))
    (tmp / "pack_stats.json").write_text(json.dumps(asdict(stats), indent=2))
    (tmp / MANIFEST).write_text(json.dumps(_file_sizes(tmp), indent=2))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def cache_problem(path: Path) -> str | None:
    """None when the cache at `path` is whole: every file recorded at write time, at its size."""
    try:
        recorded = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"{MANIFEST} missing or unreadable"
    found = _file_sizes(path)
    for name, size in recorded.items():
        if name not in found:
            return f"{name} is missing"
        if found[name] != size:
            return f"{name} is {found[name]} bytes, {size} when written"
    return None


def load_packed(path: Path) -> tuple[datasets.Dataset, PackStats]:
    """Raises ValueError naming what is wrong when the cache does not match its manifest."""
    problem = cache_problem(path)
    if problem:
        raise ValueError(problem)
    stats = PackStats(**json.loads((path / "pack_stats.json").read_text()))
    packed = datasets.load_from_disk(str(path))
    if len(packed) != stats.packs:
        raise ValueError(f"{len(packed)} packs on disk, {stats.packs} when written")
    return packed, stats
