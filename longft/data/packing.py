"""Pack whole documents into fixed-length sequences without letting them see each other.

Documents longer than the window follow a stated policy (chunk | truncate | drop); the
pieces are placed by best-fit decreasing; every input token is either kept or counted
as dropped with its reason. A pack stores its tokens and its document lengths; the
collator turns the lengths into per-document position ids and loss masks.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from ..outputs import recover_folder, replace_folder, staging_folder

PACKER_VERSION = 2
INT_LIST = datasets.Sequence(datasets.Value("int32"))


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
    if tokenized._indices is not None:  # a selected / shuffled view: materialize its order first
        tokenized = tokenized.flatten_indices()
    # Documents are visited in a seeded random order, so a token budget samples the whole corpus.
    order = list(range(len(tokenized)))
    random.Random(seed).shuffle(order)
    all_lengths = column_array(tokenized, "length")
    lengths = [int(all_lengths[i]) for i in order]
    pieces, stats = split_documents(lengths, seq_len, policy, min_tokens, max_tokens)
    bins = best_fit_decreasing([end - start for _, start, end in pieces], seq_len)
    random.Random(seed).shuffle(bins)  # pack order is shuffled, reproducibly
    stats.packs = len(bins)
    stats.fill_rate = stats.tokens_kept / (len(bins) * seq_len) if bins else 0.0
    features = datasets.Features({"input_ids": INT_LIST, "doc_lens": INT_LIST, "doc_masked": INT_LIST})
    if not bins:
        return datasets.Dataset.from_dict({"input_ids": [], "doc_lens": [], "doc_masked": []}, features=features), stats
    token_views, doc_chunk, doc_start = _token_views(tokenized)
    masked = column_array(tokenized, "masked") if "masked" in tokenized.column_names else None
    tables = []
    segments: list[np.ndarray] = []
    pack_lens: list[int] = []
    doc_lens: list[list[int]] = []
    doc_masked: list[list[int]] = []

    schema = features.arrow_schema
    batch_tokens = 0

    def flush() -> None:
        offsets = np.zeros(len(pack_lens) + 1, dtype=np.int32)  # a batch stays far below 2**31 tokens
        np.cumsum(pack_lens, out=offsets[1:])
        values = pa.array(np.concatenate(segments).astype(np.int32, copy=False))
        tables.append(pa.table({
            "input_ids": pa.ListArray.from_arrays(pa.array(offsets), values),
            "doc_lens": pa.array(doc_lens, type=pa.list_(pa.int32())),
            "doc_masked": pa.array(doc_masked, type=pa.list_(pa.int32())),
        }, schema=schema))
        segments.clear(), pack_lens.clear(), doc_lens.clear(), doc_masked.clear()

    for members in tqdm(bins, desc="packing", mininterval=2):
        lens, held = [], []
        for p in members:
            doc, start, end = pieces[p]
            d = order[doc]
            s0 = doc_start[d]
            segments.append(token_views[doc_chunk[d]][s0 + start : s0 + end])
            lens.append(end - start)
            # leading tokens without loss (a prompt) that fall inside this piece
            held.append(masked_in_piece(int(masked[d]) if masked is not None else 0, start, end))
        pack_lens.append(sum(lens))
        doc_lens.append(lens)
        doc_masked.append(held)
        batch_tokens += pack_lens[-1]
        if batch_tokens >= TOKENS_PER_BATCH:
            flush()
            batch_tokens = 0
    if pack_lens:
        flush()
    table = pa.concat_tables(tables)
    # named from the input and the settings: datasets would otherwise hash the whole table for it
    fingerprint = hashlib.sha256(
        f"{tokenized._fingerprint}|{seq_len}|{policy}|{min_tokens}|{max_tokens}|{seed}|{PACKER_VERSION}".encode()
    ).hexdigest()[:16]
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features), fingerprint=fingerprint), stats


TOKENS_PER_BATCH = 1 << 24  # packs are assembled ~16M tokens at a time: bounds the working memory


def column_array(dataset: datasets.Dataset, name: str) -> np.ndarray:
    """A scalar column as one numpy array, read from Arrow (indexing a datasets column per row is
    slow), in the dataset's row order when it is a selected or shuffled view."""
    column = dataset.data.column(name)
    if dataset._indices is not None:
        column = column.take(dataset._indices.column(0))
    return column.to_numpy()


def masked_in_piece(masked: int, start: int, end: int) -> int:
    """How many of a document's `masked` leading tokens (a prompt, no loss) fall in its piece [start, end)."""
    return min(max(masked - start, 0), end - start)


def _token_views(tokenized: datasets.Dataset) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Zero-copy numpy views of the token ids, one per Arrow chunk (memory-mapped when the dataset
    is on disk), and for each document the chunk it is in and where its tokens start there.
    `tokenized` has no index mapping (pack_tokenized flattens one first)."""
    views, chunk_of, start_of = [], [], []
    for k, chunk in enumerate(tokenized.data.column("input_ids").chunks):
        offsets = chunk.offsets.to_numpy()
        views.append(chunk.flatten().to_numpy(zero_copy_only=False))
        chunk_of.append(np.full(len(chunk), k, dtype=np.int64))
        start_of.append(offsets[:-1].astype(np.int64) - int(offsets[0]))
    if not views:
        return [], np.zeros(0, np.int64), np.zeros(0, np.int64)
    return views, np.concatenate(chunk_of), np.concatenate(start_of)


MANIFEST = "pack_manifest.json"


def _file_sizes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def save_packed(packed: datasets.Dataset, stats: PackStats, out: Path, write_extra=None) -> None:
    """Write next to the destination, then rename: a crash never leaves a half-written cache.
    A manifest of file sizes, written last, lets a later load tell a damaged cache apart.
    `write_extra(folder)` adds files of its own (a plot) inside the same rename."""
    recover_folder(out)
    tmp = staging_folder(out)
    packed.save_to_disk(str(tmp))
    (tmp / "pack_stats.json").write_text(json.dumps(asdict(stats), indent=2))
    if write_extra is not None:
        write_extra(tmp)
    (tmp / MANIFEST).write_text(json.dumps(_file_sizes(tmp), indent=2))
    replace_folder(tmp, out)


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
