"""LongRoPE's evolutionary search, resumable generation by generation.

Generation 0 is the seeds (PI, NTK, YaRN, earlier factors) filled up to the population by
mutations of them. Each later generation keeps the best `parents` (so the best never gets
worse), adds `mutations` mutated and `crossovers` crossed-over children, all new, and evaluates
only those. Every candidate ever scored stays in a cache, so none is evaluated twice, also across
a resume. The state (population, cache, history, random generator) is written atomically after
every generation; a search started again with the same settings continues from there.
"""
from __future__ import annotations

import json
import random
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ...errors import RecipeError
from ...recipe.schema import SearchConfig
from .candidates import Candidate, SearchSpace
from ...outputs import atomic_write_json

MAX_TRIES = 200  # draws allowed to find one new valid child


@dataclass
class SearchResult:
    best: Candidate
    best_ppl: float
    exportable: Candidate  # best with n̂ = 0: what a plain transformers longrope config can hold
    exportable_ppl: float
    seeds: dict  # seed name -> perplexity
    history: list  # per generation: best, median, evaluated, from cache
    evaluated: int
    cache_hits: int


def _state_payload(settings: dict, generation: int, population, cache, history, seeds, rng, counts) -> dict:
    version, internal, gauss = rng.getstate()
    return {
        "settings": settings,
        "generation": generation,
        "population": [c.key() for c in population],
        "cache": cache,
        "history": history,
        "seeds": seeds,
        "rng": [version, list(internal), gauss],
        "counts": counts,
    }


def evolutionary_search(
    space: SearchSpace,
    fitness: Callable[[list[Candidate]], list[float]],
    seeds: dict[str, Candidate],
    cfg: SearchConfig,
    state_path: Path | None = None,
    progress: Callable[[str], None] = print,
    stop_after: int | None = None,
) -> SearchResult:
    """`stop_after`: return after that generation (an interruption, for tests)."""
    settings = {"space": asdict(space), "search": asdict(cfg), "seeds": {k: v.key() for k, v in seeds.items()}}
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back from the state file
    cache: dict[str, float] = {}
    counts = {"evaluated": 0, "cache_hits": 0}
    rng = random.Random(cfg.seed)

    def score(candidates: list[Candidate]) -> list[float]:
        new = list(dict.fromkeys(c.key() for c in candidates if c.key() not in cache))
        counts["cache_hits"] += len(candidates) - len(new)
        if new:
            for key, ppl in zip(new, fitness([Candidate.from_key(k) for k in new])):
                cache[key] = ppl
        counts["evaluated"] += len(new)
        return [cache[c.key()] for c in candidates]

    def record(generation: int, population: list[Candidate], evaluated_before: int, hits_before: int) -> None:
        ppls = score(population)
        entry = {
            "generation": generation,
            "best": min(ppls),
            "median": statistics.median(ppls),
            "evaluated": counts["evaluated"] - evaluated_before,
            "cache_hits": counts["cache_hits"] - hits_before,
        }
        history.append(entry)
        progress(
            f"generation {generation}/{cfg.iterations}: best ppl {entry['best']:.3f}, median {entry['median']:.3f} "
            f"({entry['evaluated']} evaluated, {entry['cache_hits']} reused from the cache; {len(cache)} distinct so far)"
        )

    history: list[dict] = []
    state = json.loads(state_path.read_text()) if state_path is not None and state_path.is_file() else None
    if state is not None and state["settings"] != settings:
        raise RecipeError(
            f"{state_path} holds a search with other settings; nothing was changed there. Remove it to start over."
        )
    if state is not None:
        cache, history, counts = state["cache"], state["history"], state["counts"]
        population = [Candidate.from_key(k) for k in state["population"]]
        version, internal, gauss = state["rng"]
        rng.setstate((version, tuple(internal), gauss))
        generation = state["generation"]
        seed_ppl = state["seeds"]
        progress(f"resuming the search after generation {generation} ({len(cache)} candidates already scored)")
    else:
        generation = 0
        population = list(dict.fromkeys(seeds.values()))
        seed_list = list(population)
        tries = 0
        while len(population) < cfg.population and tries < MAX_TRIES * cfg.population:
            tries += 1
            child = space.mutate(rng.choice(seed_list), rng, cfg.mutation_prob)
            if child not in population:
                population.append(child)
        record(0, population, 0, 0)
        seed_ppl = {name: cache[c.key()] for name, c in seeds.items()}
        if state_path is not None:
            atomic_write_json(state_path, _state_payload(settings, 0, population, cache, history, seed_ppl, rng, counts))

    while generation < cfg.iterations and (stop_after is None or generation < stop_after):
        generation += 1
        e0, h0 = counts["evaluated"], counts["cache_hits"]
        ranked = sorted(population, key=lambda c: (cache[c.key()], c.key()))
        parents = ranked[: cfg.parents]
        children: list[Candidate] = []

        def add(make) -> None:
            for _ in range(MAX_TRIES):
                child = make()
                if child is not None and child.key() not in cache and child not in children:
                    children.append(child)
                    return

        for _ in range(cfg.mutations):
            add(lambda: space.mutate(rng.choice(parents), rng, cfg.mutation_prob))
        for _ in range(cfg.crossovers if len(parents) > 1 else 0):
            add(lambda: space.crossover(*rng.sample(parents, 2), rng, cfg.crossover_prob))
        population = parents + children
        record(generation, population, e0, h0)
        if state_path is not None:
            atomic_write_json(state_path, _state_payload(settings, generation, population, cache, history, seed_ppl, rng, counts))

    best_key = min(cache, key=lambda k: (cache[k], k))
    exportable = [k for k in cache if k.startswith("0:")]
    export_key = min(exportable, key=lambda k: (cache[k], k)) if exportable else best_key
    return SearchResult(
        best=Candidate.from_key(best_key),
        best_ppl=cache[best_key],
        exportable=Candidate.from_key(export_key),
        exportable_ppl=cache[export_key],
        seeds=seed_ppl,
        history=history,
        evaluated=counts["evaluated"],
        cache_hits=counts["cache_hits"],
    )
