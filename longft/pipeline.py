"""Run a recipe: check every input, then stage by stage pack -> train -> export, then evaluate.

Each stage starts from the previous stage's output and writes `<output_dir>/<stage>/final`
with a marker holding the stage's fingerprint. A re-run skips stages whose marker matches
and resumes an interrupted stage from its last checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from .config import Recipe, RecipeError, stage_recipes
from .data.sources import check_sources
from .distributed import sharded_training
from .attention.registry import ATTENTION_METHODS, use_attention
from .methods.longlora import apply_adapter, quantization_config
from .models import check_model_available, load_model, load_tokenizer, model_dtype, resolve_model_path
from .outputs import atomic_write_json, check_run_folder, check_writable
from .paths import cache_home
from .run_lock import RunLock
from .smoke import smoke_recipe, smoke_window

STAGE_MARKER = "longft_stage.json"
# Written when a stage starts: a rerun resumes its checkpoints only for the same recipe.
STARTED_MARKER = "longft_stage_started.json"


def planned_stages(recipe: Recipe) -> list[tuple[str, Recipe, str]]:
    """(name, resolved recipe, fingerprint chained through earlier stages)."""
    out, chain = [], ""
    resolved = stage_recipes(recipe)
    window = smoke_window([stage for _, stage in resolved]) if recipe.smoke else None
    for i, (name, stage) in enumerate(resolved):
        if recipe.smoke:
            stage = smoke_recipe(stage, first_stage=i == 0, window=window)
        chain = hashlib.sha256((chain + stage.fingerprint()).encode()).hexdigest()[:16]
        out.append((name, stage, chain))
    return out


def _read_marker(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def stage_done(stage_dir: Path, fingerprint: str, stage: Recipe | None = None) -> bool:
    """True when the stage finished with this recipe; raises when another recipe left it there,
    finished or interrupted, naming what differs."""
    marker = stage_dir / "final" / STAGE_MARKER
    if marker.is_file():
        found = _read_marker(marker)
        if found.get("fingerprint") != fingerprint:
            raise RecipeError(
                f"{stage_dir} holds a finished stage of a different recipe ({_difference(found, stage)}); nothing was "
                "changed there. Set --output_dir to a new folder or move that one away."
            )
        return True
    started = stage_dir / STARTED_MARKER
    if started.is_file():
        found = _read_marker(started)
        if found.get("fingerprint") != fingerprint:
            raise RecipeError(
                f"{stage_dir} holds an interrupted stage of a different recipe ({_difference(found, stage)}); resuming "
                "it would continue that run's schedule and label it with this recipe. Nothing was changed there: "
                "set --output_dir to a new folder, or rerun the recipe it was started with."
            )
    elif any((stage_dir / "checkpoints").glob("checkpoint-*")):
        raise RecipeError(
            f"{stage_dir / 'checkpoints'} holds checkpoints with no record of the recipe that wrote them; "
            "nothing was changed there: set --output_dir to a new folder or move that one away"
        )
    return False


def _difference(found: dict, stage: Recipe | None) -> str:
    """What differs between the recipe recorded in a marker and this one, field by field."""
    old, new = found.get("recipe"), stage.to_dict() if stage is not None else None
    if not isinstance(old, dict) or new is None:
        return f"fingerprint {found.get('fingerprint')}, this recipe's differs"
    changed = [
        f"{key}: {old_value!r} there, {new_value!r} now"
        for key, old_value, new_value in diff_fields(old, new)
        if key not in ("output_dir", "description", "overrides", "model.name_or_path", "model.init", "model.tokenizer")
    ]
    return "; ".join(changed[:8]) + (f"; and {len(changed) - 8} more" if len(changed) > 8 else "") if changed else (
        "an earlier stage differs"
    )


def diff_fields(old: dict, new: dict, prefix: str = ""):
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            yield from diff_fields(a, b, f"{prefix}{key}.")
        elif a != b:
            yield f"{prefix}{key}", a, b


def preflight(recipe: Recipe, stages) -> None:
    """Everything that can be checked without training: fails before any work starts."""
    checked: set = set()

    def check(sources: list[dict], where: str, stage: Recipe) -> None:
        todo = [s for s in sources if repr(sorted(s.items())) not in checked]  # each source read once
        check_sources(todo, where, stage.data.max_undecodable_fraction)
        checked.update(repr(sorted(s.items())) for s in todo)

    for i, (name, stage, _) in enumerate(stages):
        if stage.kind == "search":
            check(stage.search.sources, f"stage {name}: search.sources", stage)
            window = stage.position.original_max_position_embeddings
            searched_before = any(s.kind == "search" and s.length() > (window or 0) for _, s, _ in stages[:i])
            if window and stage.length() == window and not searched_before:
                raise RecipeError(
                    f"stage {name}: search.length = {window} is the original window, which searches short factors; "
                    "they need long factors from an earlier search stage for a longer length"
                )
        else:
            check(stage.data.sources, f"stage {name}: data.sources", stage)
        if stage.eval.enabled:
            check(stage.eval.sources, f"stage {name}: eval.sources", stage)
        if i == 0:
            check_model_available(stage.model)
        quantization_config(stage.adapter)  # 4-bit without bitsandbytes / a GPU fails here
        ATTENTION_METHODS[stage.attention.method].preflight(stage.attention)
        if stage.train.deepspeed and not Path(stage.train.deepspeed).is_file():
            raise RecipeError(f"train.deepspeed = {stage.train.deepspeed!r}: no such DeepSpeed config file")
        sharding = sharded_training(stage.train.deepspeed)
        if stage.kind == "train" and stage.adapter.method == "lora" and sharding:
            raise RecipeError(
                f"stage {name}: adapter.method = 'lora' under {sharding}: merging adapters from sharded weights "
                "is not supported; train adapters with DDP or ZeRO-2 (accelerate_configs/ddp.yaml, deepspeed_zero2.yaml)"
            )
    out = recipe.resolved_output_dir()
    check_run_folder(out)
    check_writable(cache_home(), "the cache (LONGFT_HOME)")
    for name, stage, fingerprint in stages:
        check_writable(out / name / "checkpoints", f"stage {name}: checkpoints folder")
        check_writable(out / name / "final", f"stage {name}: final checkpoint folder")
        stage_done(out / name, fingerprint, stage)  # raises on a foreign stage, finished or not
    if stages[-1][1].eval.enabled:
        check_writable(out / "report", "report folder")


def run_recipe(recipe: Recipe) -> dict:
    """Every rank of a distributed launch runs this; only the main process writes shared files."""
    from .distributed import process_state

    state = process_state()
    stages = planned_stages(recipe)
    preflight(recipe, stages)
    out = recipe.resolved_output_dir()
    with RunLock(out, releases=state.is_main_process):
        return _run_locked(recipe, stages, out, state)


def _run_locked(recipe: Recipe, stages, out: Path, state) -> dict:
    started = time.time()
    for name, stage, fingerprint in stages:  # again under the lock: another run may have moved on
        stage_done(out / name, fingerprint, stage)
    if state.is_main_process:
        atomic_write_json(out / "recipe.json", recipe.to_dict())
    previous: Path | None = None
    summaries = {}
    for i, (name, stage, fingerprint) in enumerate(stages):
        stage_dir = out / name
        if stage_done(stage_dir, fingerprint, stage):
            print(f"[stage {name}] complete, skipping ({stage_dir / 'final'})", flush=True)
            previous = stage_dir / "final"
            continue
        if state.is_main_process:
            stage_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(stage_dir / STARTED_MARKER, {"fingerprint": fingerprint, "recipe": stage.to_dict()})
        state.wait_for_everyone()
        if i > 0:
            stage.model.name_or_path, stage.model.init, stage.model.tokenizer = str(previous), "pretrained", None
        if stage.kind == "search":
            print(f"[stage {name}] LongRoPE search for {stage.length()} tokens", flush=True)
            summaries[name] = run_search(stage, stage_dir, fingerprint, initial_dir=out / "initial" if i == 0 else None)
        else:
            print(f"[stage {name}] {stage.position.method} -> {stage.data.seq_len} tokens, {stage.train.max_steps} steps", flush=True)
            summaries[name] = run_stage(stage, stage_dir, fingerprint, initial_dir=out / "initial" if i == 0 else None)
        previous = stage_dir / "final"
    result = {"output": str(previous), "stages": summaries}
    last = stages[-1][1]
    if last.eval.enabled and state.is_main_process:
        result["report"] = evaluate_recipe(stages, previous, out / "report")
    print(f"[done] {recipe.name}: final checkpoint {previous} ({time.time() - started:.0f}s)", flush=True)
    return result


def run_search(stage: Recipe, stage_dir: Path, fingerprint: str, initial_dir: Path | None) -> dict:
    """A search runs in the main process alone; the other ranks wait and read its checkpoint."""
    from .distributed import process_state
    from .methods.longrope import run_search_stage

    state = process_state()
    summary = run_search_stage(stage, stage_dir, fingerprint, initial_dir) if state.is_main_process else {}
    state.wait_for_everyone()
    return summary


def run_stage(stage: Recipe, stage_dir: Path, fingerprint: str, initial_dir: Path | None) -> dict:
    from transformers import set_seed

    from .data.prepare import prepare_packed
    from .export import export_checkpoint
    from .train.trainer import train_stage

    from .distributed import process_state

    state = process_state()
    stage_dir.mkdir(parents=True, exist_ok=True)
    with state.main_process_first():  # the main process builds caches (tokenizer, base, packs) first
        tokenizer = load_tokenizer(stage.model)
    set_seed(stage.train.seed)  # a scratch init is part of what the seed reproduces
    model = load_model(
        stage.model,
        stage.position,
        stage.data.seq_len,
        tokenizer,
        model_dtype(stage.train.precision),
        quantization_config(stage.adapter),
    )
    with state.main_process_first():
        packed, stats, _ = prepare_packed(stage.data, tokenizer)
    if state.is_main_process:
        save_initial(model, tokenizer, stage, initial_dir)
    model = apply_adapter(use_attention(model, stage.attention), stage.adapter)
    summary, state_dict = train_stage(model, tokenizer, packed, stage, stage_dir)
    summary["pack_fill_rate"] = stats.fill_rate
    marker = {"fingerprint": fingerprint, "recipe": stage.to_dict(), "summary": summary}
    if state.is_main_process:
        extra = {STAGE_MARKER: json.dumps(marker, indent=2, default=str)}
        export_checkpoint(model, tokenizer, stage_dir / "final", extra, state_dict=state_dict)
    state.wait_for_everyone()
    return summary


def save_initial(model, tokenizer, stage: Recipe, initial_dir: Path | None) -> None:
    """A scratch-initialised first stage keeps its initial weights: the "base" it is compared with."""
    from .export import export_checkpoint

    if initial_dir is not None and stage.model.init == "scratch" and not initial_dir.exists():
        export_checkpoint(model, tokenizer, initial_dir)


def base_model_path(stages) -> str:
    first = stages[0][1]
    if first.model.init == "scratch":
        return str(first.resolved_output_dir() / "initial")
    return resolve_model_path(first.model.name_or_path)


def evaluate_recipe(stages, final_dir: Path, report_dir: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .eval.report import write_report
    from .eval.suite import evaluate_model
    from .positions.rope import original_window

    first, last = stages[0][1], stages[-1][1]
    ev = last.eval
    tokenizer = AutoTokenizer.from_pretrained(str(final_dir))
    extended = AutoModelForCausalLM.from_pretrained(str(final_dir), dtype=torch.float32)
    window = original_window(extended.config, first.position)
    target = max(stage.length() for _, stage, _ in stages)
    results = []
    if ev.compare_base:
        base = AutoModelForCausalLM.from_pretrained(base_model_path(stages), dtype=torch.float32)
        results.append(evaluate_model(base, tokenizer, ev, window, target, "base (no scaling)"))
        del base
    for method in ev.zero_shot_baselines:
        model, label = zero_shot_model(base_model_path(stages), method, window, target)
        results.append(evaluate_model(model, tokenizer, ev, window, target, label))
        del model
    results.append(evaluate_model(extended, tokenizer, ev, window, target, last.name))
    table = write_report(results, window, target, report_dir)
    print(f"\nHeld-out evaluation (original window {window}, target {target}); report in {report_dir}\n{table}\n", flush=True)
    return {"dir": str(report_dir), "models": results}


def zero_shot_model(base_path: str, method: str, window: int, target: int):
    """The base model with a position method at the target factor and no training at all."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from .config import PositionConfig
    from .positions.rope import apply_position_method

    factor = target / window
    config = AutoConfig.from_pretrained(base_path)
    apply_position_method(config, PositionConfig(method=method, factor=factor, original_max_position_embeddings=window), target)
    model = AutoModelForCausalLM.from_pretrained(base_path, config=config, dtype=torch.float32)
    return model, f"base + {method} x{factor:g} (zero-shot)"
