"""Position schemes: what the collator writes as position ids for a packed batch.

A scheme maps every row's documents (their lengths; a padding tail is one more document) to
position ids. Which document a token belongs to never comes from here: the batch carries the
boundaries on their own (`attention/boundaries.py`), so a scheme may leave gaps inside a document.

- `document`: each document counts 0, 1, 2, ... as it would alone.
- `pose` (PoSE, Zhu et al. 2023): each document is cut at random points into `chunks` pieces;
  piece i is moved right by a skip u_i with 0 = u_0 <= u_1 <= ... <= u_{c-1} <= L_t - n, drawn
  uniformly, so training at a short window touches positions up to the target length L_t.
- `randomized` (Ruoss et al. 2023): a sorted random subset of [0, M) of the row length, drawn
  once per batch (not per row); each document takes its first n positions.
- `shifted` (shifted positional encodings; SHAPE, Kiyono et al. 2021): the document's positions
  plus one offset per batch, either progressing through [0, M - seq_len] batch by batch
  (`mode: progressive`) or drawn uniformly per batch (`mode: random`).

Random draws use torch's global generator, which the Trainer saves in every checkpoint, so a
resumed run draws what the uninterrupted run drew. Append new {"name": PositionScheme(...)} pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import RecipeError


def _randint(low: int, high: int) -> int:
    """Uniform in [low, high] inclusive."""
    return int(torch.randint(low, high + 1, (1,)).item())


# ---------------------------------------------------------------- document


def document_positions(doc_lens: list[int]) -> list[int]:
    return [p for n in doc_lens for p in range(n)]


def make_document(params: dict, seq_len: int, length: int):
    def positions(rows: list[list[int]], step: int) -> list[list[int]]:
        return [document_positions(row) for row in rows]

    return positions


# ---------------------------------------------------------------- PoSE


def pose_document(n: int, chunks: int, target: int) -> list[int]:
    """One document of n tokens: `chunks` contiguous pieces, piece i shifted by skip u_i."""
    pieces = min(chunks, n)
    cuts = sorted(torch.randperm(n - 1)[: pieces - 1].add(1).tolist()) if pieces > 1 else []
    skips = sorted(_randint(0, target - n) for _ in range(pieces - 1))
    bounds = [0, *cuts, n]
    out = []
    for i in range(pieces):
        shift = skips[i - 1] if i > 0 else 0
        out.extend(range(bounds[i] + shift, bounds[i + 1] + shift))
    return out


def make_pose(params: dict, seq_len: int, length: int):
    chunks = params.get("chunks", 2)

    def positions(rows, step):
        return [[p for n in row for p in pose_document(n, chunks, max(length, n))] for row in rows]

    return positions


def validate_pose(params: dict, seq_len: int, length: int) -> None:
    _known("pose", params, {"chunks"})
    chunks = params.get("chunks", 2)
    if not isinstance(chunks, int) or chunks < 1:
        raise RecipeError(f"position.scheme_params.chunks = {chunks!r}: PoSE needs an integer number of chunks >= 1")
    if chunks > seq_len:
        raise RecipeError(f"position.scheme_params.chunks = {chunks}: more chunks than the {seq_len} tokens of a window")
    if length <= seq_len:
        raise RecipeError(
            f"position.scheme_length = {length}: PoSE's target must be longer than the training window "
            f"data.seq_len = {seq_len} (it simulates the target length while training at the window)"
        )


# ---------------------------------------------------------------- randomized


def make_randomized(params: dict, seq_len: int, length: int):
    def positions(rows, step):
        shared = torch.randperm(length)[:seq_len].sort().values.tolist()  # once per batch
        return [[p for n in row for p in shared[:n]] for row in rows]

    return positions


def validate_randomized(params: dict, seq_len: int, length: int) -> None:
    _known("randomized", params, set())
    if length < seq_len:
        raise RecipeError(
            f"position.scheme_length = {length}: randomized positions draw {seq_len} distinct positions "
            f"(data.seq_len) from [0, M); M must be >= {seq_len}"
        )


# ---------------------------------------------------------------- shifted


def make_shifted(params: dict, seq_len: int, length: int):
    mode, stride = params.get("mode", "progressive"), params.get("stride", seq_len)
    span = length - seq_len

    def positions(rows, step):
        if mode == "random":
            offset = _randint(0, span)
        else:  # 0, stride, 2 stride, ... up to the end of the range, then from 0 again
            offset = (step % (span // stride + 1)) * stride
        return [[offset + p for p in document_positions(row)] for row in rows]

    return positions


def validate_shifted(params: dict, seq_len: int, length: int) -> None:
    _known("shifted", params, {"mode", "stride"})
    if params.get("mode", "progressive") not in ("progressive", "random"):
        raise RecipeError(f"position.scheme_params.mode = {params['mode']!r}: valid modes: progressive, random")
    stride = params.get("stride", seq_len)
    if not isinstance(stride, int) or stride < 1:
        raise RecipeError(f"position.scheme_params.stride = {stride!r}: an integer >= 1")
    if length < seq_len:
        raise RecipeError(f"position.scheme_length = {length}: shifted positions need M >= data.seq_len = {seq_len}")


def _known(name: str, params: dict, keys: set) -> None:
    unknown = set(params) - keys
    if unknown:
        raise RecipeError(
            f"position.scheme_params has {sorted(unknown)}: the {name} scheme takes {sorted(keys) or 'no parameters'}"
        )


@dataclass(frozen=True)
class PositionScheme:
    make: Callable  # (params, seq_len, length) -> positions(rows_of_doc_lens, step) -> list of position lists
    validate: Callable  # (params, seq_len, length) -> None, raises RecipeError
    # needs scheme_length (the range the positions cover) beyond the training length
    uses_length: bool = True


POSITION_SCHEMES: dict[str, PositionScheme] = {
    "document": PositionScheme(make_document, lambda p, s, n: _known("document", p, set()), uses_length=False),
    "pose": PositionScheme(make_pose, validate_pose),
    "randomized": PositionScheme(make_randomized, validate_randomized),
    "shifted": PositionScheme(make_shifted, validate_shifted),
}


def target_length(stage) -> int:
    """The longest context a stage is meant for: its length, or the range its position scheme
    covers when that is longer (PoSE trains at a short window for a long target)."""
    if stage.kind != "train" or not POSITION_SCHEMES[stage.position.scheme].uses_length:
        return stage.length()
    return max(stage.length(), stage.position.covered_length(stage.data.seq_len))
