"""Load tokenizers and models for a recipe: a hub id or folder, the testbed base, or a stand-in."""
from __future__ import annotations

from pathlib import Path

import torch

from .recipe.schema import ModelConfig, PositionConfig
from .errors import RecipeError
from .positions.rope import apply_position_method

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
# Models that longft builds itself, by name -> a function that builds (once) and returns the folder.
# The pipeline registers "testbed" (the tiny base it pretrains), which needs the pipeline to build.
NAMED_MODELS: dict = {}


def _config_class(family: str):
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    return {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}[family]


def resolve_model_path(name: str) -> str:
    """A local folder, or a hub id already in the local cache; fails early otherwise."""
    if name in NAMED_MODELS:
        return str(NAMED_MODELS[name]())
    if Path(name).expanduser().is_dir():
        if not (Path(name).expanduser() / "config.json").is_file():
            raise RecipeError(f"model.name_or_path = {name!r} is a folder without config.json")
        return str(Path(name).expanduser())
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name, local_files_only=True)
    except Exception:
        raise RecipeError(
            f"model.name_or_path = {name!r} is not available offline: it is neither a local folder nor in the "
            "Hugging Face cache. Set --model.name_or_path /path/to/the/model (a folder with config.json and "
            "weights), or run the recipe with --smoke to try it on a tiny stand-in model."
        ) from None
    return name


# models longft builds itself (NAMED_MODELS) -> the recipe that builds them
BUILT_BY_RECIPE = {"testbed": "testbed-base"}


def check_model_available(model: ModelConfig):
    """Fails early on a model that is not on the machine or of an unsupported type; returns its
    config (`architecture_config`) for the checks that follow."""
    config = architecture_config(model)
    if config is None or model.init == "scratch":
        return config
    model_type = config.model_type
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise RecipeError(
            f"model type {model_type!r} (from {model.name_or_path!r}) is not supported; "
            f"supported types: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    return config


def architecture_config(model: ModelConfig):
    """The model's config without its weights, for checks before work starts (for a model longft
    builds itself, the architecture its recipe builds, vocabulary aside); None for one it cannot tell."""
    if model.init == "scratch":
        return _config_class(model.family)(**dict(model.arch))
    if model.name_or_path in BUILT_BY_RECIPE:  # not built yet: the architecture its recipe will build
        from .recipe.loading import load_recipe

        return architecture_config(load_recipe(BUILT_BY_RECIPE[model.name_or_path]).model)
    if model.name_or_path in NAMED_MODELS:
        return None
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve_model_path(model.name_or_path))


def load_tokenizer(model: ModelConfig):
    from transformers import AutoTokenizer

    name = model.tokenizer or model.name_or_path
    if name == "testbed":
        from .testbed.tokenizer import build_testbed_tokenizer

        name = str(build_testbed_tokenizer())
    elif model.tokenizer is None:
        name = resolve_model_path(name)
    tok = AutoTokenizer.from_pretrained(name)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def model_dtype(precision: str) -> torch.dtype:
    """The dtype the weights are loaded in (bf16-mixed keeps them in fp32)."""
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float32


def computes_in_bf16(precision: str) -> bool:
    """Whether training runs its matmuls in bf16 (transformers' `bf16=True`: autocast)."""
    return precision == "bf16-mixed" or model_dtype(precision) == torch.bfloat16


def load_model(
    model: ModelConfig, position: PositionConfig, target_len: int, tokenizer, dtype=torch.float32, quantization=None
):
    from transformers import AutoConfig, AutoModelForCausalLM

    if model.init == "scratch":
        arch = dict(model.arch)
        config = _config_class(model.family)(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **arch,
        )
        apply_position_method(config, position, target_len)
        config._attn_implementation = model.attn_implementation
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=model.attn_implementation)
    path = resolve_model_path(model.name_or_path)
    config = AutoConfig.from_pretrained(path)
    apply_position_method(config, position, target_len)
    return AutoModelForCausalLM.from_pretrained(
        path, config=config, dtype=dtype, attn_implementation=model.attn_implementation, quantization_config=quantization
    )
