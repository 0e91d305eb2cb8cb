"""Recipes ready to run: read (recipe/), with named mixes resolved by the data layer, then every
name checked against the registry that defines it and each method's own checks applied.

This is the one validation step above both the schema and the registries: the schema knows field
types and ranges, the registries know their names, and only here do the two meet. The pipeline,
the CLI and --smoke load recipes through this module.
"""
from __future__ import annotations

from .data.mix.definition import normalize_layer, parse_mix
from .data.sources import validate_source
from .eval.ruler import SCORING_MODES, TASKS
from .eval.ruler.templates import TEMPLATES
from .methods.registry import ATTENTION_METHODS, position_length
from .positions.methods import POSITION_METHODS
from .positions.rope import check_length_fits_method
from .positions.schemes import POSITION_SCHEMES
from .recipe.loading import build_recipe, raw_stages, read_raw_recipe
from .errors import RecipeError
from .recipe.schema import Recipe, check_choice
from .stages import STAGE_KINDS


def check_recipe(recipe: Recipe) -> None:
    """The checks that need the registries, in the order a reader meets the sections."""
    position, attention, data, ev = recipe.position, recipe.attention, recipe.data, recipe.eval
    check_choice("kind", recipe.kind, tuple(STAGE_KINDS))
    check_choice("position.method", position.method, tuple(POSITION_METHODS))
    check_choice("position.scheme", position.scheme, tuple(POSITION_SCHEMES))
    POSITION_METHODS[position.method].validate(position)
    check_choice("attention.method", attention.method, tuple(ATTENTION_METHODS))
    if data.mix is not None:
        parse_mix(data.mix, data.seq_len)
    else:
        for i, source in enumerate(data.sources):
            validate_source(source, f"data.sources[{i}]")
            if source.get("streaming") and data.max_train_tokens is None:
                raise RecipeError(f"data.sources[{i}] is streamed: set data.max_train_tokens, so that the stream "
                                  "knows where to stop")
    for where, sources in (("eval.sources", ev.sources), ("search.sources", recipe.search.sources)):
        for i, source in enumerate(sources):
            if source.get("streaming"):
                raise RecipeError(f"{where}[{i}]: evaluation and search documents are read whole; set streaming: "
                                  "false (or point path at a local copy)")
    for i, source in enumerate(ev.sources):
        validate_source(source, f"eval.sources[{i}]")
    for task in ev.ruler_tasks:
        check_choice("eval.ruler_tasks[]", task, tuple(TASKS))
    check_choice("eval.ruler_scoring", ev.ruler_scoring, SCORING_MODES)
    check_choice("eval.ruler_template", ev.ruler_template, tuple(TEMPLATES))
    for i, source in enumerate(recipe.search.sources):
        validate_source(source, f"search.sources[{i}]")
    ATTENTION_METHODS[attention.method].validate(attention, data.seq_len, position.original_max_position_embeddings)
    check_length_fits_method(position, position_length(attention, data.seq_len))
    POSITION_SCHEMES[position.scheme].validate(position.scheme_params, data.seq_len, position.covered_length(data.seq_len))


def family_refusals(stage: Recipe, config) -> list[tuple[str, str]]:
    """(the setting, why) for each of the stage's methods that the model's family cannot take."""
    from .families import family_of
    from .train.loss import kernel_refusal
    from .train.tiled_mlp import refusal as tiled_refusal

    family = family_of(config)  # an unsupported type fails with the supported ones
    found = []
    if family.packing_refusal and stage.kind == "train":
        found.append(("packed training", family.packing_refusal))
    position = POSITION_METHODS[stage.position.method]
    why = position.refusal(config) if position.refusal is not None else None
    if (why := why or config_class_refusal(stage, config)):
        found.append((f"position.method {stage.position.method!r}", why))
    attention = ATTENTION_METHODS[stage.attention.method]
    if attention.refusal is not None and (why := attention.refusal(stage.attention, config)):
        found.append((f"attention.method {stage.attention.method!r}", why))
    if stage.train.tiled_mlp and (why := tiled_refusal(config)):
        found.append(("train.tiled_mlp", why))
    if stage.train.loss_chunk_tokens and (why := kernel_refusal(config, stage.train.loss_kernel)):
        found.append((f"train.loss_kernel {stage.train.loss_kernel!r}", why))
    return found


def config_class_refusal(stage: Recipe, config) -> str | None:
    """What the family's own config class says to the rope parameters the position method writes
    (Phi3Config takes only the default and longrope types)."""
    import copy

    from .positions.rope import apply_position_method

    if stage.kind != "train" or stage.position.method == "none":
        return None
    try:
        apply_position_method(copy.deepcopy(config), stage.position, position_length(stage.attention, stage.data.seq_len))
    except (RecipeError, ArithmeticError, KeyError, TypeError):
        return None  # the recipe's or the config's own mistake: the checks that own it say so
    except ValueError as err:
        return f"its config class refuses the rope parameters {stage.position.method} writes ({str(err).splitlines()[0]})"
    return None


def check_family(stage: Recipe, config, where: str = "") -> None:
    """Fails before any work on the first method the model's family cannot take: one line naming the
    family, the setting and the reason."""
    from .errors import RecipeError
    from .families.family import text_config

    refused = family_refusals(stage, config)
    if refused:
        setting, why = refused[0]
        raise RecipeError(f"{where}model type {text_config(config).model_type!r} cannot take {setting}: {why}")


def from_dict(raw: dict) -> Recipe:
    recipe = build_recipe(raw)
    check_recipe(recipe)
    return recipe


def load_recipe(name_or_path: str, overrides: dict | None = None, smoke: bool = False) -> Recipe:
    return from_dict(read_raw_recipe(name_or_path, overrides, smoke, normalize_layer))


def stage_recipes(recipe: Recipe) -> list[tuple[str, Recipe]]:
    """One checked recipe per stage: the top-level values with the stage's overrides on top."""
    if not recipe.stages:  # checked again: a recipe may come from `recipe.loading` alone (the testbed base)
        check_recipe(recipe)
        return [("main", recipe)]
    return [(name, from_dict(raw)) for name, raw in raw_stages(recipe, normalize_layer)]
