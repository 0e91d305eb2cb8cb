"""Run a recipe: check every input, then stage by stage pack -> train -> export, then evaluate.

Each stage starts from the previous stage's output and writes `<output_dir>/<stage>/final`
with a marker holding the stage's fingerprint. A re-run skips stages whose marker matches
and resumes an interrupted stage from its last checkpoint.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from .methods.registry import ATTENTION_METHODS, position_length
from .data.sources import check_sources
from .errors import RecipeError
from .adapters.lora import check_lora_targets, quantization_config
from .models import NAMED_MODELS, check_model_available, load_tokenizer, resolve_model_path
from .outputs import atomic_write_json, check_run_folder, check_writable
from .paths import cache_home
from .precision import precision_notice
from .positions.rope import check_window_from_config
from .positions.schemes import target_length
from .validation import check_family, stage_recipes
from .recipe.schema import Recipe
from .recipe.shipped import find_deepspeed_config
from .run_lock import RunLock
from .smoke import smoke_recipe, smoke_window
from .stages import STAGE_KINDS
from .stage_marker import STAGE_MARKER, STARTED_MARKER, stage_done
from .testbed.base import ensure_testbed_base
from .train.sequence_parallel import check_heads

def _build_testbed_base() -> Path:
    return ensure_testbed_base(run_recipe)


NAMED_MODELS["testbed"] = _build_testbed_base  # the base longft pretrains itself, built on first use


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


def preflight(recipe: Recipe, stages) -> None:
    """Everything that can be checked without training: fails before any work starts."""
    checked: set = set()

    def check(sources: list[dict], where: str, stage: Recipe) -> None:
        todo = [s for s in sources if repr(sorted(s.items())) not in checked]  # each source read once
        check_sources(todo, where, stage.data.max_undecodable_fraction)
        checked.update(repr(sorted(s.items())) for s in todo)

    for i, (name, stage, _) in enumerate(stages):
        kind = STAGE_KINDS[stage.kind]
        for sources, where in kind.sources(stage):
            check(sources, f"stage {name}: {where}", stage)
        if stage.eval.enabled:
            check(stage.eval.sources, f"stage {name}: eval.sources", stage)
        if i == 0:
            architecture = check_model_available(stage.model)
            recipe_model = stage.model.name_or_path
        if architecture is not None:
            check_heads(stage.train.sequence_parallel, architecture)
            if stage.kind == "train":
                try:
                    check_window_from_config(architecture, stage.position, position_length(stage.attention, stage.data.seq_len), recipe_model)
                except RecipeError as err:
                    raise RecipeError(f"stage {name}: {err}") from None
            check_family(stage, architecture, f"stage {name}: ")
        quantization_config(stage.adapter)  # 4-bit without bitsandbytes / a GPU fails here
        check_lora_targets(stage.adapter, architecture)
        attention = ATTENTION_METHODS[stage.attention.method]
        if attention.check_stage is not None and architecture is None:
            raise RecipeError(f"stage {name}: attention.method {stage.attention.method!r} needs the model's "
                              f"config to check its settings, and {stage.model.name_or_path!r} has none to read")
        try:  # stages set their own attention and batch: say which one a bad setting is in
            attention.preflight(stage.attention)
            if attention.check_stage is not None:
                attention.check_stage(stage.attention, stage, architecture)
        except RecipeError as err:
            raise RecipeError(f"stage {name}: {err}") from None
        if stage.train.deepspeed:
            find_deepspeed_config(stage.train.deepspeed)
        kind.preflight(name, stage, [s for _, s, _ in stages[:i]])
    out = recipe.resolved_output_dir()
    check_run_folder(out, stage_markers=(f"*/{STARTED_MARKER}", f"*/final/{STAGE_MARKER}"))
    check_writable(cache_home(), "the cache (LONGFT_HOME)")
    check_writable(datasets_cache(), "the datasets cache (HF_DATASETS_CACHE)")
    for name, stage, fingerprint in stages:
        check_writable(out / name / "checkpoints", f"stage {name}: checkpoints folder")
        check_writable(out / name / "final", f"stage {name}: final checkpoint folder")
        stage_done(out / name, fingerprint, stage, log=None)  # raises on a foreign stage, finished or not
    if stages[-1][1].eval.enabled:
        check_writable(out / "report", "report folder")
        check_eval_inputs(stages[-1][1])


def datasets_cache() -> Path:
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE)


def check_eval_inputs(stage: Recipe) -> None:
    """A run that ends in an evaluation learns before training, not after it, that the tokenizer has
    no chat template to put the prompts in, or (RULER) that the haystack is too short or a task does
    not fit its shortest length."""
    ev = stage.eval
    if "ruler" not in ev.suites and not ev.chat_template:
        return
    from .eval.chat import chat_frame
    from .eval.run import ruler_haystack

    tokenizer = load_tokenizer(stage.model)
    frame = chat_frame(tokenizer) if ev.chat_template else None
    if "ruler" in ev.suites:
        window = stage.position.original_max_position_embeddings or stage.data.seq_len
        lengths = sorted(ev.ruler_lengths) or [window, stage.data.seq_len]
        ruler_haystack(tokenizer, ev, lengths, frame)


def run_recipe(recipe: Recipe) -> dict:
    """Every rank of a distributed launch runs this; only the main process writes shared files."""
    from .distributed import check_on_every_rank, process_state

    state = process_state()
    stages = planned_stages(recipe)
    check_on_every_rank(lambda: preflight(recipe, stages))
    out = recipe.resolved_output_dir()
    with RunLock(out, releases=state.is_main_process):
        return _run_locked(recipe, stages, out, state)


def _run_locked(recipe: Recipe, stages, out: Path, state) -> dict:
    started = time.time()
    for name, stage, fingerprint in stages:  # again under the lock: another run may have moved on
        stage_done(out / name, fingerprint, stage, log=None)
    if state.is_main_process:
        atomic_write_json(out / "recipe.json", recipe.to_dict())
        for notice in precision_notices(stages):
            print(notice, flush=True)
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
        kind = STAGE_KINDS[stage.kind]
        print(f"[stage {name}] {kind.describe(stage)}", flush=True)
        summaries[name] = kind.run(stage, stage_dir, fingerprint, initial_dir=out / "initial" if i == 0 else None)
        previous = stage_dir / "final"
    result = {"output": str(previous), "stages": summaries}
    last = stages[-1][1]
    if last.eval.enabled and state.is_main_process:
        result["report"] = evaluate_recipe(stages, previous, out / "report")
    print(f"[done] {recipe.name}: final checkpoint {previous} ({time.time() - started:.0f}s)", flush=True)
    return result


def precision_notices(stages) -> list[str]:
    """The stages' training and search precisions that fall back to fp32, or ask for a bf16 that is
    not native, on this machine: one line each (eval.dtype's comes with the evaluation)."""
    lines = []
    for _, stage, _ in stages:
        asked = [("train.precision", stage.train.precision)]
        if stage.kind == "search":
            asked.append(("search.dtype", stage.search.dtype))
        for setting, value in asked:
            notice = precision_notice(setting, value)
            if notice and notice not in lines:
                lines.append(notice)
    return lines


def base_model_path(stages) -> str:
    first = stages[0][1]
    if first.model.init == "scratch":
        return str(first.resolved_output_dir() / "initial")
    return resolve_model_path(first.model.name_or_path)


def evaluate_recipe(stages, final_dir: Path, report_dir: Path) -> dict:
    from .eval.run import evaluate_checkpoint

    first, last = stages[0][1], stages[-1][1]
    return evaluate_checkpoint(
        final_dir,
        last.eval,
        report_dir,
        target=max(target_length(stage) for _, stage, _ in stages),
        label=last.name,
        position=first.position,
        base=base_model_path(stages),
    )
