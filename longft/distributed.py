"""The process view shared with the Trainer (accelerate's PartialState is a singleton: the first
caller's settings win, so longft asks for it exactly as TrainingArguments(use_cpu=...) will)."""
from __future__ import annotations

import torch

from .errors import RecipeError


def process_state():
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def check_on_every_rank(check) -> None:
    """Run `check` (the checks made before any work) on every rank of a launch, then share the
    outcome: when one rank refuses (a file missing on its node, say), every rank stops with that
    rank's message. Otherwise the others go on and wait for it at their first collective until the
    timeout, a hang rather than an error."""
    failure = None
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure on one rank must reach the others
        failure = exc
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        if failure is not None:
            raise failure
        return
    said = [None] * dist.get_world_size()
    message = None if failure is None else str(failure) if isinstance(failure, RecipeError) else (
        f"{type(failure).__name__}: {failure}")
    dist.all_gather_object(said, message)
    if failure is not None:
        raise failure
    for rank, refusal in enumerate(said):
        if refusal is not None:
            raise RecipeError(f"rank {rank} of {len(said)} stopped before any work: {refusal}; every rank stops with it")
