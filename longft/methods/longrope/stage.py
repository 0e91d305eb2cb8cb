"""`kind: search` — LongRoPE's search stage: search rescale factors for one length, write them into
the model's `rope_parameters` as transformers' `longrope` type, and save the checkpoint. A stage
kind (`describe`, `sources`, `preflight`, `run`, as stages/ lists them).

- `search.length` longer than the original window L searches the long factors for that length
  (seeded with PI, NTK, YaRN and, in a progressive recipe, the earlier long factors stretched);
- `search.length` equal to L searches the short factors, used for inputs of at most L tokens,
  on a model that already has long factors.
The attention scale is LongRoPE's sqrt(1 + ln s / ln L), which transformers derives from `factor`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ...recipe.schema import Recipe, SearchConfig
from ...errors import RecipeError
from .candidates import SearchSpace, base_inv_freq, method_factors
from .fitness import CandidateFitness, longrope_attention_scale
from ...outputs import atomic_write_json
from .report import plot_search_history
from .search import evolutionary_search

FACTORS_FILE = "longrope_factors.json"
STATE_FILE = "search_state.json"
PLOT_FILE = "search_progress.png"


def longrope_parameters(current: dict, window: int, scale: float, long_factor, short_factor) -> dict:
    params = {
        "rope_type": "longrope",
        "rope_theta": current["rope_theta"],
        "factor": scale,
        "original_max_position_embeddings": window,
        "long_factor": [float(f) for f in long_factor],
        "short_factor": [float(f) for f in short_factor],
    }
    if "partial_rotary_factor" in current:
        params["partial_rotary_factor"] = current["partial_rotary_factor"]
    return params


def plan_search(model_config, window: int, length: int, cfg: SearchConfig):
    """(search space, seeds, scale s, 'long' or 'short') for a model as loaded."""
    current = model_config.rope_parameters
    dims = len(base_inv_freq(model_config))
    starts = tuple(sorted(set(cfg.start_tokens)))
    is_longrope = current.get("rope_type") == "longrope"
    if length > window:
        scale = length / window
        space = SearchSpace(dims, cfg.max_scale * scale, cfg.step, starts)
        seeds = {name: space.make(f) for name, f in method_factors(model_config, window, scale).items()}
        if is_longrope:  # progressive: the factors the model was fine-tuned with, stretched to the new length
            stretch = scale / current["factor"]
            seeds["previous x%g" % stretch] = space.make([f * stretch for f in current["long_factor"]])
        return space, seeds, scale, "long"
    if not is_longrope:
        raise RecipeError(
            f"search.length = {length} is the original window: that searches short factors, which need a model "
            "with long factors; put a search stage for a longer length before it"
        )
    scale = current["factor"]
    space = SearchSpace(dims, max(cfg.max_scale, max(current["long_factor"])), cfg.step, starts)
    seeds = {
        "original": space.make([1.0] * dims),
        "short": space.make(current["short_factor"]),
        "long": space.make(current["long_factor"]),
    }
    return space, seeds, scale, "short"


def search_documents(cfg: SearchConfig, tokenizer, length: int) -> list[list[int]]:
    from ...data.documents import long_documents

    docs = long_documents(cfg.sources, tokenizer, length, cfg.num_docs)
    if not docs:
        raise RecipeError(
            f"search.sources has no document of {length} tokens or more; add longer documents or lower search.length"
        )
    return [d[:length] for d in docs]


def scoring_copy(model, dtype: str):
    """The model candidates are scored with: itself, or a copy in `dtype` (search.dtype), so that
    the weights written afterwards are the ones loaded."""
    import copy

    import torch

    from ...precision import resolve_dtype

    wanted = getattr(torch, resolve_dtype(dtype))
    return model if model.dtype == wanted else copy.deepcopy(model).to(wanted)


def run_search_stage(stage: Recipe, stage_dir: Path, fingerprint: str, initial_dir: Path | None = None) -> dict:
    from transformers import set_seed

    from ..engine_notes import export_for_serving
    from ...models import load_model, load_tokenizer, model_dtype
    from ...export import save_initial
    from ...stage_marker import STAGE_MARKER
    from ...positions.rope import original_window

    stage_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(stage.model)
    length = stage.length()
    set_seed(stage.train.seed)  # a scratch init is part of what the seed reproduces
    model = load_model(stage.model, stage.position, length, tokenizer, model_dtype(stage.train.precision))
    save_initial(model, tokenizer, stage, initial_dir)
    started = time.time()  # the search's own cost: documents, seeds, generations
    window = original_window(model.config, stage.position)
    space, seeds, scale, which = plan_search(model.config, window, length, stage.search)
    docs = search_documents(stage.search, tokenizer, length)
    attention_scale = longrope_attention_scale(scale, window)
    print(
        f"[search] {which} factors for {length} tokens (s = {scale:g} x the {window}-token window, attention scale "
        f"{attention_scale:.4f}) on {len(docs)} documents; {space.dims} factors in [1, {space.upper:g}], "
        f"n̂ from {list(space.start_choices)}",
        flush=True,
    )
    fitness = CandidateFitness(scoring_copy(model, stage.search.dtype), docs, space, base_inv_freq(model.config), attention_scale, stage.search.batch_size)
    result = evolutionary_search(
        space, fitness, seeds, stage.search, stage_dir / STATE_FILE, progress=lambda m: print(f"[search] {m}", flush=True)
    )
    exported = space.factors(result.exportable)
    current = model.config.rope_parameters
    if which == "long":
        short = current["short_factor"] if current.get("rope_type") == "longrope" else [1.0] * space.dims
        params = longrope_parameters(current, window, scale, exported, short)
        model.config.max_position_embeddings = max(length, model.config.max_position_embeddings)
    else:
        params = longrope_parameters(current, window, scale, current["long_factor"], exported)
    model.config.rope_parameters = params
    summary = {
        "kind": which,
        "length": length,
        "original_window": window,
        "scale": scale,
        "attention_scale": attention_scale,
        "best": {"start_tokens": result.best.start_tokens, "factors": space.factors(result.best), "ppl": result.best_ppl},
        "exported": {"start_tokens": result.exportable.start_tokens, "factors": exported, "ppl": result.exportable_ppl},
        "seeds": result.seeds,
        "candidates_evaluated": result.evaluated,
        "cache_hits": result.cache_hits,
        "seconds": round(time.time() - started, 1),
        "history": result.history,
    }
    atomic_write_json(stage_dir / FACTORS_FILE, summary)
    plot_search_history(result.history, result.seeds, f"LongRoPE {which} factors for {length} tokens", stage_dir / PLOT_FILE)
    best_seed = min(result.seeds, key=result.seeds.get)
    print(
        f"[search] done: best ppl {result.best_ppl:.3f} (n̂ = {result.best.start_tokens}); exported (n̂ = "
        f"{result.exportable.start_tokens}) {result.exportable_ppl:.3f}; best seed {best_seed} "
        f"{result.seeds[best_seed]:.3f}. {result.evaluated} candidates evaluated, {result.cache_hits} taken from "
        f"the cache; factors in {stage_dir / FACTORS_FILE}, plot {stage_dir / PLOT_FILE}",
        flush=True,
    )
    if result.best.start_tokens != result.exportable.start_tokens:
        print(
            "[search] transformers' longrope config has no field for n̂ (first tokens kept unscaled): the checkpoint "
            f"holds the best candidate with n̂ = {result.exportable.start_tokens}",
            flush=True,
        )
    marker = {"fingerprint": fingerprint, "recipe": stage.to_dict(), "summary": {k: v for k, v in summary.items() if k != "history"}}
    export_for_serving(model, tokenizer, stage_dir / "final", {STAGE_MARKER: json.dumps(marker, indent=2, default=str)},
                       label="search")
    return marker["summary"]


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
    from ...distributed import process_state

    state = process_state()
    summary = run_search_stage(stage, stage_dir, fingerprint, initial_dir) if state.is_main_process else {}
    state.wait_for_everyone()
    return summary
