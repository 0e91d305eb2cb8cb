"""`longft train|eval|export|pack|recipes` — also `python -m longft` and `accelerate launch -m longft`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import RecipeError
from .recipe.parsing import deep_merge, parse_overrides
from .recipe.loading import recipe_names
from .validation import load_recipe
from .outputs import disk_full_message

USAGE = """longft <command> ...

  train RECIPE [--smoke] [--section.field VALUE ...]   run a recipe (name in recipes/ or a YAML path)
  search RECIPE [--smoke] [--search.length N ...]     LongRoPE factor search on the recipe's model, one stage
  pack RECIPE [--smoke] [--section.field VALUE ...]    build the packed data and print its statistics
  data RECIPE [--section.field VALUE ...]              what the data would read (Hub, cache, local), the budget, where packs go
  eval CHECKPOINT [--recipe R] [--base PATH] [--suite standard|ruler] [--lengths N ...] [--tasks T ...] [--eval.field VALUE ...]
  export CHECKPOINT OUT [--overwrite] [--dynamic-as-fixed [--compare-docs N] [--recipe R]]
                                                       write a plain HF checkpoint (adapters merged)
  serve-check CHECKPOINT [--engine vllm|lm-eval] [--engine-python PY] [--lengths N ...] [--context N]
                                                       prompt log-probs of an engine against transformers, by length
  plan RECIPE --gpus N --gpu-memory GIB [--config C]   per-GPU memory by term; the smallest SP degree / ZeRO stage that fits
  recipes                                              list the shipped recipes
  configs                                              paths of the shipped accelerate and DeepSpeed configs
"""


def _recipe_args(argv: list[str], forced: dict | None = None):
    parser = argparse.ArgumentParser(prog="longft", add_help=True)
    parser.add_argument("recipe")
    parser.add_argument("--smoke", action="store_true", help="tiny stand-in model, a few steps")
    args, rest = parser.parse_known_args(argv)
    overrides = parse_overrides(rest)
    if forced:
        overrides = deep_merge(overrides, forced)
    return load_recipe(args.recipe, overrides, smoke=args.smoke)


def cmd_train(argv: list[str]) -> int:
    from .pipeline import run_recipe
    from .train.trainer import close_process_group

    recipe = _recipe_args(argv)
    run_recipe(recipe)
    close_process_group()
    return 0


def cmd_search(argv: list[str]) -> int:
    """One search stage on the recipe's model with its `search` section (stages set aside):
    written to runs/<recipe>-search unless --output_dir says otherwise."""
    from .pipeline import run_recipe
    from .train.trainer import close_process_group

    recipe = _recipe_args(argv, {"kind": "search", "stages": [], "position": {"method": "none"}})
    recipe.name = f"{recipe.name}-search"  # its own runs/ folder, apart from the recipe's training runs
    run_recipe(recipe)
    close_process_group()
    return 0


def cmd_pack(argv: list[str]) -> int:
    from .data.prepare import prepare_packed
    from .data.sources import check_sources
    from .models import load_tokenizer
    from .pipeline import planned_stages

    recipe = _recipe_args(argv)
    for name, stage, _ in planned_stages(recipe):
        sources, where = stage.data.all_sources()
        check_sources(sources, where, max_undecodable_fraction=stage.data.max_undecodable_fraction)
        tokenizer = load_tokenizer(stage.model)
        packed, stats, path = prepare_packed(stage.data, tokenizer)
        first = packed[0]
        print(f"[pack] stage {name}: {path}")
        print(f"[pack] first sequence holds {len(first['doc_lens'])} documents of lengths {list(first['doc_lens'])[:12]}")
    return 0


def cmd_data(argv: list[str]) -> int:
    from .data.dry_run import describe
    from .models import load_tokenizer
    from .paths import cache_home
    from .pipeline import planned_stages

    recipe = _recipe_args(argv)
    for name, stage, _ in planned_stages(recipe):
        if stage.kind != "train":
            print(f"[data] stage {name} ({stage.kind}): trains on nothing")
            continue
        try:
            tokenizer = load_tokenizer(stage.model)
        except Exception as exc:  # noqa: BLE001 - a dry run still says what it can without the tokenizer
            print(f"[data] stage {name}: tokenizer of {stage.model.tokenizer or stage.model.name_or_path!r} not "
                  f"loaded here ({type(exc).__name__}); no document estimate or pack folder name")
            tokenizer = None
        for line in describe(stage.data, tokenizer, cache_home() / "packed"):
            print(f"[data] stage {name}: {line}")
    return 0


def _base_folder(name: str) -> str:
    """`eval --base`: a model folder, or a model longft builds itself, by name (`testbed`: the base the
    testbed recipes extend, whose folder is a hashed cache path)."""
    from . import pipeline  # noqa: F401  (registers the named models)
    from .models import NAMED_MODELS, resolve_model_path

    if name not in NAMED_MODELS and not (Path(name) / "config.json").is_file():
        raise RecipeError(f"--base {name!r} has no config.json; pass a model folder or one of {sorted(NAMED_MODELS)}")
    return resolve_model_path(name)


def cmd_eval(argv: list[str]) -> int:
    from .eval.run import evaluate_checkpoint
    from .outputs import REPORT_FILES, check_replace_target

    parser = argparse.ArgumentParser(prog="longft eval")
    parser.add_argument("checkpoint")
    parser.add_argument("--recipe", default=None,
                        help="recipe whose eval section to use (default: the testbed's for a testbed checkpoint, "
                             "a pretrained model's otherwise)")
    parser.add_argument("--base", default=None, help="also evaluate this base model for comparison: a folder, or testbed")
    parser.add_argument("--window", type=int, default=None, help="original window (default: from the config)")
    parser.add_argument("--target", type=int, default=None,
                        help="longest context (default: the recipe's seq_len, or without --recipe the length the "
                             "checkpoint's config serves)")
    parser.add_argument("--out", default=None, help="report folder (default: CHECKPOINT/../report)")
    parser.add_argument("--overwrite", action="store_true", help="replace a report already at --out")
    parser.add_argument("--suite", action="append", default=None,
                        help="suites to run (repeatable; default: the recipe's eval.suites)")
    parser.add_argument("--lengths", type=int, nargs="+", default=None, help="RULER lengths (eval.ruler_lengths)")
    parser.add_argument("--tasks", nargs="+", default=None, help="RULER tasks (eval.ruler_tasks)")
    args, rest = parser.parse_known_args(argv)
    ckpt = Path(args.checkpoint)
    if not (ckpt / "config.json").is_file():
        raise RecipeError(f"checkpoint {str(ckpt)!r} has no config.json; pass a folder written by longft train/export")
    overrides = parse_overrides(rest)
    unknown = set(overrides) - {"eval"}
    if unknown:
        raise RecipeError(f"longft eval takes only --eval.* overrides, got {sorted(unknown)}")
    for field, value in (("suites", args.suite), ("ruler_lengths", args.lengths), ("ruler_tasks", args.tasks)):
        if value is not None:
            overrides.setdefault("eval", {})[field] = value
    if args.recipe:
        recipe = load_recipe(args.recipe, overrides)
        target, position, settings = args.target or recipe.data.seq_len, recipe.position, f"{args.recipe}'s"
    else:
        from .eval.presets import settings_for
        from .recipe.schema import PositionConfig

        chosen = settings_for(ckpt, overrides, args.target)
        recipe = load_recipe(chosen.recipe, chosen.overrides)
        target, position, settings = chosen.target, PositionConfig(), chosen.name
    out = Path(args.out) if args.out else ckpt.parent / "report"
    check_replace_target(out, "eval --out", REPORT_FILES, overwrite=args.overwrite, source=ckpt)
    for name, value in (("--window", args.window), ("--target", args.target)):
        if value is not None and value < recipe.eval.target_tokens:
            raise RecipeError(f"{name} = {value}: must be >= eval.target_tokens ({recipe.eval.target_tokens})")
    base = _base_folder(args.base) if args.base else None
    evaluate_checkpoint(
        ckpt, recipe.eval, out, target=target, label=ckpt.name, window=args.window,
        position=position, base=base, base_label="base", settings=settings,
    )
    print(f"report: {out}")
    return 0


def cmd_export(argv: list[str]) -> int:
    from .models import check_config_file, check_weights
    from .outputs import CHECKPOINT_FILES, check_replace_target
    from .run_lock import RunLock

    parser = argparse.ArgumentParser(prog="longft export")
    parser.add_argument("checkpoint", help="a trained model folder, or a peft adapter folder")
    parser.add_argument("out")
    parser.add_argument("--overwrite", action="store_true", help="replace a checkpoint already at OUT")
    parser.add_argument("--dynamic-as-fixed", action="store_true",
                        help="write dynamic NTK as the fixed RoPE base it reaches at the target length (portable)")
    parser.add_argument("--recipe", default="tiny-yarn-4x",
                        help="with --dynamic-as-fixed: recipe whose eval.sources give the held-out comparison text")
    parser.add_argument("--compare-docs", type=int, default=2,
                        help="with --dynamic-as-fixed: held-out documents a length to compare perplexity on (0: none)")
    args = parser.parse_args(argv)
    src, out = Path(args.checkpoint), Path(args.out)
    if not src.is_dir():
        raise RecipeError(f"checkpoint {str(src)!r} is not a folder; give a trained model or adapter folder")
    if not ((src / "adapter_config.json").is_file() or (src / "config.json").is_file()):
        raise RecipeError(f"{str(src)!r} holds neither config.json nor adapter_config.json")
    if not (src / "adapter_config.json").is_file():
        check_config_file(src, "checkpoint")
    check_weights(src, "checkpoint")
    sources = None
    if args.dynamic_as_fixed:
        _check_dynamic(src)
        if args.compare_docs < 0:
            raise RecipeError(f"--compare-docs {args.compare_docs}: must be >= 0 (0 skips the comparison)")
        sources = load_recipe(args.recipe).eval.sources if args.compare_docs else None
    check_replace_target(out, "export OUT", CHECKPOINT_FILES, overwrite=args.overwrite, source=src)
    with RunLock.beside(out, "export OUT", "choose another OUT"):
        check_replace_target(out, "export OUT", CHECKPOINT_FILES, overwrite=args.overwrite, source=src)  # under the lock
        length = _export(src, out, args.dynamic_as_fixed, sources, args.compare_docs)
    print(f"exported {out}: serves {length} tokens, loads with AutoModelForCausalLM.from_pretrained; "
          f"engine notes in {out / 'longft_export.json'}")
    return 0


def _check_dynamic(src: Path) -> None:
    from transformers import AutoConfig

    folder = src
    if (src / "adapter_config.json").is_file():  # an adapter folder: its base model's config
        folder = Path(json.loads((src / "adapter_config.json").read_text()).get("base_model_name_or_path") or src)
    rope = getattr(AutoConfig.from_pretrained(str(folder)), "rope_parameters", None) or {}
    if rope.get("rope_type") != "dynamic":
        raise RecipeError(f"--dynamic-as-fixed: {str(src)!r} has rope_type {rope.get('rope_type')!r}; it applies to "
                          "rope_type 'dynamic' only")


def _export(src: Path, out: Path, dynamic_as_fixed: bool = False, sources: list[dict] | None = None,
            compare_docs: int = 0) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .export import EXPORT_NOTES_FILE, serving_length
    from .methods.engine_notes import export_for_serving
    from .outputs import atomic_write_json
    from .serving import fixed_ntk

    if (src / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(str(src))
    else:
        model = AutoModelForCausalLM.from_pretrained(str(src))
    tokenizer = AutoTokenizer.from_pretrained(str(src))
    dynamic = None
    if dynamic_as_fixed:
        from .positions.methods.dynamic_ntk import fixed_equivalent
        from .serving.prompts import serving_prompts

        config = model.config
        window = config.max_position_embeddings
        rope, target = fixed_equivalent(config.to_dict())
        if sources:  # measured before anything is written: a source too short fails here
            prompts = serving_prompts(sources, tokenizer, fixed_ntk.comparison_lengths(window, target), compare_docs)
            print(f"[export] held-out perplexity of the dynamic model at {list(prompts)} tokens", flush=True)
            dynamic = fixed_ntk.perplexity_by_length(model.eval(), prompts)
        config.rope_parameters, config.max_position_embeddings = rope, target
        print(f"[export] dynamic NTK written as plain RoPE with base {rope['rope_theta']:.6g} for {target} tokens",
              flush=True)
    export_for_serving(model, tokenizer, out, label="export")
    length = serving_length(model.config.to_dict())
    if dynamic is not None:
        del model
        fixed = fixed_ntk.perplexity_by_length(AutoModelForCausalLM.from_pretrained(str(out)).eval(), prompts)
        record = fixed_ntk.comparison_record(dynamic, fixed, window, rope["rope_theta"], len(prompts[target]))
        notes = json.loads((out / EXPORT_NOTES_FILE).read_text())
        atomic_write_json(out / EXPORT_NOTES_FILE, {**notes, "dynamic_as_fixed": record})
        print(fixed_ntk.format_comparison(record), flush=True)
    return length


def cmd_serve_check(argv: list[str]) -> int:
    from .serving.check import DEFAULT_TOLERANCE, plan_check, serve_check
    from .serving.engines import ENGINES

    parser = argparse.ArgumentParser(prog="longft serve-check")
    parser.add_argument("checkpoint", help="an exported (or trained) model folder")
    parser.add_argument("--engine", default="vllm", help=f"one of {', '.join(ENGINES)}")
    parser.add_argument("--engine-python", default=None, help="the Python of vLLM's own virtualenv")
    parser.add_argument("--lengths", type=int, nargs="+", default=None, help="prompt lengths (default: bands by window)")
    parser.add_argument("--recipe", default="tiny-yarn-4x", help="recipe whose eval.sources give the held-out prompts")
    parser.add_argument("--docs", type=int, default=4, help="prompts a length")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="nats a token")
    parser.add_argument("--context", type=int, default=None,
                        help="start the engine with this context (vLLM max_model_len); default: what it derives")
    args = parser.parse_args(argv)
    if args.docs < 1 or not args.tolerance >= 0:
        raise RecipeError(f"--docs {args.docs} / --tolerance {args.tolerance}: need --docs >= 1 and --tolerance >= 0")
    ckpt = Path(args.checkpoint)
    lengths = plan_check(ckpt, args.engine, args.lengths, args.engine_python, args.context)
    recipe = load_recipe(args.recipe)
    return serve_check(ckpt, args.engine, lengths, recipe.eval.sources, args.docs, args.tolerance, args.engine_python,
                       args.context)


def cmd_plan(argv: list[str]) -> int:
    from .plan.architecture import architecture_for
    from .plan.fit import format_plan

    parser = argparse.ArgumentParser(prog="longft plan")
    parser.add_argument("--gpus", type=int, required=True, help="GPUs in the launch")
    parser.add_argument("--gpu-memory", type=float, required=True, help="memory of one GPU, GiB")
    parser.add_argument("--config", default=None, help="the model's config.json (default: from the recipe's model)")
    args, rest = parser.parse_known_args(argv)
    for name, value in (("--gpus", args.gpus), ("--gpu-memory", args.gpu_memory)):
        if value <= 0:
            raise RecipeError(f"{name} = {value:g}: must be > 0")
    recipe = _recipe_args(rest)
    from .validation import stage_recipes

    for name, stage in stage_recipes(recipe):
        if stage.kind == "train":
            print(format_plan(f"{recipe.name} / {name}", architecture_for(stage.model, args.config), stage, args.gpus,
                              args.gpu_memory))
    return 0


COMMANDS = {"train": cmd_train, "plan": cmd_plan, "search": cmd_search, "pack": cmd_pack, "data": cmd_data, "eval": cmd_eval,
            "export": cmd_export, "serve-check": cmd_serve_check}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "recipes":
        print("\n".join(recipe_names()))
        return 0
    if command == "configs":  # shipped accelerate configs (--config_file) and DeepSpeed configs (train.deepspeed)
        from .recipe.shipped import ACCELERATE_CONFIGS_DIR

        print("\n".join(str(p) for p in sorted([*ACCELERATE_CONFIGS_DIR.glob("*.yaml"), *ACCELERATE_CONFIGS_DIR.glob("*.json")])))
        return 0
    if command not in COMMANDS:
        print(f"longft: unknown command {command!r}; valid commands: {', '.join(COMMANDS)}, recipes, configs", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command](rest)
    except RecipeError as exc:
        print(f"longft: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = disk_full_message(exc)
        if message is None:
            raise
        print(f"longft: error: {message}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
