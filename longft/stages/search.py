"""`kind: search` — LongRoPE's evolutionary search of rescale factors, written into the checkpoint."""
from __future__ import annotations

from pathlib import Path

from ..errors import RecipeError


def describe(stage) -> str:
    return f"LongRoPE search for {stage.length()} tokens"


def sources(stage) -> list[tuple[list, str]]:
    return [(stage.search.sources, "search.sources")]


def preflight(name: str, stage, earlier: list) -> None:
    """Short factors (a search at the original window) need long factors from an earlier search."""
    window = stage.position.original_max_position_embeddings
    searched_before = any(s.kind == "search" and s.length() > (window or 0) for s in earlier)
    if window and stage.length() == window and not searched_before:
        raise RecipeError(
            f"stage {name}: search.length = {window} is the original window, which searches short factors; "
            "they need long factors from an earlier search stage for a longer length"
        )


def run(stage, stage_dir: Path, fingerprint: str, initial_dir: Path | None) -> dict:
    """A search runs in the main process alone; the other ranks wait and read its checkpoint."""
    from ..distributed import process_state
    from ..methods.longrope import run_search_stage

    state = process_state()
    summary = run_search_stage(stage, stage_dir, fingerprint, initial_dir) if state.is_main_process else {}
    state.wait_for_everyone()
    return summary
