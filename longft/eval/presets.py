"""What `longft eval CHECKPOINT` measures when no recipe is named: the settings follow the model.

A testbed checkpoint (the tiny Llama longft pretrains, its tokenizer's vocabulary) gets the testbed
recipes' evaluation (code passkey, likelihood-ranked RULER); any other model gets what a user of a
real model expects (recipes/_real-model-eval.yaml: generation scoring, RULER's own templates, the
English passkey prompt, the model's chat template where its tokenizer has one). The window is read
from the checkpoint's config; the target is the length its config serves, or for a model with no
scaling twice its window, to show where it stops.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TESTBED_RECIPE = "tiny-yarn-4x"
REAL_MODEL_RECIPE = "_real-model-eval"


@dataclass(frozen=True)
class EvalSettings:
    recipe: str  # the recipe whose eval section is used; the caller validates it with `overrides`
    overrides: dict  # the user's --eval.* values, with the chat template chosen from the tokenizer
    name: str  # which settings, for the printout and the report
    target: int  # the longest context evaluated


def is_testbed(config: dict) -> bool:
    """One of longft's own small models: the testbed tokenizer's vocabulary, which no pretrained model has."""
    from ..testbed.tokenizer import VOCAB_SIZE

    return config.get("vocab_size") == VOCAB_SIZE


def default_target(config: dict) -> int:
    from ..export.reader_config import original_window, serving_length

    served, window = serving_length(config), original_window(config)
    return served if served > window else 2 * window


def settings_for(checkpoint: Path, overrides: dict, target: int | None) -> EvalSettings:
    """The evaluation of `checkpoint` with no recipe named; `overrides`: the user's --eval.* values."""
    from transformers import AutoConfig, AutoTokenizer

    from ..errors import RecipeError
    from ..models import check_config_file
    from .chat import has_chat_template

    check_config_file(checkpoint, "checkpoint")  # a damaged config is named before it is read
    loaded = AutoConfig.from_pretrained(str(checkpoint))
    config = {**loaded.to_dict(), "max_position_embeddings": getattr(loaded, "max_position_embeddings", None)}
    if not (target or config["max_position_embeddings"]):
        raise RecipeError(f"checkpoint {str(checkpoint)!r}: its config gives no window; pass --target")
    target = target or default_target(config)
    if is_testbed(config):
        return EvalSettings(TESTBED_RECIPE, overrides, f"the testbed's ({TESTBED_RECIPE})", target)
    chat = has_chat_template(AutoTokenizer.from_pretrained(str(checkpoint)))
    layered = {**overrides, "eval": {"chat_template": chat, **overrides.get("eval", {})}}
    return EvalSettings(REAL_MODEL_RECIPE, layered,
                        f"a pretrained model's ({REAL_MODEL_RECIPE}{', chat template' if chat else ''})", target)


def describe(ev) -> str:
    """One line on how the prompts are scored, for the printout and the report."""
    from ..precision import resolve_dtype

    dtype = resolve_dtype(ev.dtype)
    return (f"passkey {ev.passkey_template} template, RULER {ev.ruler_template} template with {ev.ruler_scoring} "
            f"scoring, chat template {'on' if ev.chat_template else 'off'}, weights in {dtype}"
            f"{' (eval.dtype auto)' if dtype != ev.dtype else ''}")
