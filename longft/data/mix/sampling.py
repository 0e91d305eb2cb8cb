"""Drawing a weighted mix: how many copies of each piece, so that every source (and every part of
the long/short split) gets its share of the tokens. Pure numpy on lengths.

The unit drawn is a *piece*: a document cut as the packer's split policy would cut it (a
document of at most one pack is one piece), so a budget is met to within about one pack however
long the documents are. Which part a piece belongs to, whether a length filter keeps it and how
much it is upsampled follow the length of its whole document.

Each piece gets an expected number of copies proportional to its weight (the upsampling factor
for pieces of long documents, 1 otherwise), scaled so the expected tokens meet the target;
systematic sampling along the pieces sorted by length (ties in a seeded random order) turns those
expectations into whole copies. Within a part, a source that has fewer tokens than its share
gives what it has and the others make up the rest in proportion to their weights, so nothing is
repeated unless the part as a whole is short of tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import RecipeError
from .definition import Mix


@dataclass
class Cell:
    """One source within one part (part "all" when there is no long/short split)."""
    source: str
    part: str  # long | short | all
    target: float  # tokens
    pieces: np.ndarray  # indices into the source's pieces
    copies: np.ndarray  # copies of each of those pieces
    capped: bool = False  # the source had fewer tokens than its share of the part


def systematic_copies(lengths: np.ndarray, weights: np.ndarray, target: float, rng: np.random.Generator) -> np.ndarray:
    """Whole copies per piece with E[copies] = weight * target / sum(weight * length).

    >>> systematic_copies(np.array([10, 10, 10, 10]), np.ones(4), 20, np.random.default_rng(0)).sum()
    2
    """
    mass = float((weights * lengths).sum())
    if target <= 0 or mass == 0:
        return np.zeros(len(lengths), dtype=np.int64)
    expected = weights * (target / mass)
    order = np.lexsort((rng.random(len(lengths)), lengths))
    edges = np.floor(np.cumsum(expected[order]) + rng.random())
    copies = np.empty(len(lengths), dtype=np.int64)
    copies[order] = np.diff(edges, prepend=0.0).astype(np.int64)
    return copies


def piece_weights(mix_source, doc_lengths: np.ndarray) -> np.ndarray:
    up = mix_source.upsample
    if up is None:
        return np.ones(len(doc_lengths))
    return np.where(doc_lengths >= up.min_tokens, up.factor, 1.0)


def kept_by_filter(mix_source, doc_lengths: np.ndarray) -> np.ndarray:
    keep = doc_lengths >= mix_source.min_tokens
    if mix_source.max_tokens is not None:
        keep &= doc_lengths <= mix_source.max_tokens
    return keep


def part_masks(mix: Mix, doc_lengths: np.ndarray) -> dict[str, np.ndarray]:
    if mix.long_short is None:
        return {"all": np.ones(len(doc_lengths), dtype=bool)}
    long = doc_lengths >= mix.long_short.long_min_tokens
    return {"long": long, "short": ~long}


def part_fractions(mix: Mix) -> dict[str, float]:
    if mix.long_short is None:
        return {"all": 1.0}
    return {"long": mix.long_short.long_fraction, "short": 1.0 - mix.long_short.long_fraction}


@dataclass
class Pool:
    source: int
    part: str
    pieces: np.ndarray  # indices into the source's pieces
    weights: np.ndarray
    mass: float  # sum of weight x length
    capacity: float  # tokens it can give with no piece expected more than once


def pools_of(mix: Mix, piece_lengths: list[np.ndarray], doc_lengths: list[np.ndarray]) -> list[Pool]:
    pools = []
    for i, (ms, lens, docs) in enumerate(zip(mix.sources, piece_lengths, doc_lengths)):
        keep = kept_by_filter(ms, docs)
        for part, mask in part_masks(mix, docs).items():
            idx = np.flatnonzero(keep & mask)
            weights = piece_weights(ms, docs[idx])
            mass = float((weights * lens[idx]).sum())
            capacity = mass / float(weights.max()) if len(idx) else 0.0
            pools.append(Pool(i, part, idx, weights, mass, capacity))
    return pools


def part_targets(mix: Mix, pools: list[Pool], part: str, tokens: float) -> dict[int, tuple[float, bool]]:
    """Source -> (target tokens, capped) within one part: shares by weight, a source short of
    tokens capped at what it has and the rest spread over the others (water-filling); only a
    part short of tokens as a whole is drawn past its capacity, in proportion to the weights."""
    present = {p.source: p for p in pools if p.part == part and len(p.pieces)}
    if not present:
        rule = f"{'>=' if part == 'long' else '<'} {mix.long_short.long_min_tokens} tokens" if mix.long_short else ""
        what = f"{part} documents ({rule})" if rule else "documents"
        raise RecipeError(f"data mix {mix.name!r}: no source has {what} left after its length filters")
    weight = {i: mix.sources[i].weight for i in present}
    if tokens > sum(p.capacity for p in present.values()):
        total = sum(weight.values())
        return {i: (tokens * w / total, False) for i, w in weight.items()}
    out: dict[int, tuple[float, bool]] = {}
    left, open_ = tokens, set(present)
    while open_:
        total = sum(weight[i] for i in open_)
        over = [i for i in open_ if left * weight[i] / total > present[i].capacity]
        if not over:
            out.update({i: (left * weight[i] / total, False) for i in open_})
            break
        for i in over:
            out[i] = (present[i].capacity, True)
            left -= present[i].capacity
            open_.discard(i)
    return out


def plan_cells(mix: Mix, piece_lengths: list[np.ndarray], doc_lengths: list[np.ndarray]) -> list[Cell]:
    """The sampled copies of every (source, part), reproducible from mix.seed. `doc_lengths[s][k]`
    is the length of the document that piece k of source s was cut from."""
    rng = np.random.default_rng(mix.seed)
    pools = pools_of(mix, piece_lengths, doc_lengths)
    fractions = part_fractions(mix)
    budget = mix.tokens if mix.tokens is not None else largest_unrepeated_budget(mix, pools, fractions)
    targets = {}
    for part, fraction in fractions.items():
        for i, value in part_targets(mix, pools, part, budget * fraction).items():
            targets[(i, part)] = value
    cells = []
    for pool in pools:
        target, capped = targets.get((pool.source, pool.part), (0.0, False))
        lens = piece_lengths[pool.source][pool.pieces].astype(np.float64)
        copies = systematic_copies(lens, pool.weights, target, rng)
        cells.append(Cell(mix.sources[pool.source].name, pool.part, target, pool.pieces, copies, capped))
    return cells


def largest_unrepeated_budget(mix: Mix, pools: list[Pool], fractions: dict[str, float]) -> int:
    """The largest budget at which every source gets its full weight in every part and no piece
    is expected more than once."""
    best = np.inf
    for part, fraction in fractions.items():
        present = [p for p in pools if p.part == part and len(p.pieces)]
        total = sum(mix.sources[p.source].weight for p in present)
        for p in present:
            best = min(best, p.capacity / (fraction * mix.sources[p.source].weight / total))
    if not np.isfinite(best):
        raise RecipeError(f"data mix {mix.name!r}: no source has any document left after its length filters")
    return int(best)
