"""Load tokenizers and models for a recipe: a hub id or folder, the testbed base, or a stand-in."""
from __future__ import annotations

import difflib
import json
from pathlib import Path

import torch

from .recipe.schema import ModelConfig, PositionConfig
from .errors import RecipeError
from .families import SUPPORTED_MODEL_TYPES, config_class
from .positions.rope import apply_position_method
from .precision import resolve_precision
from .pretrained import smollm2

# Models that longft builds itself, by name -> a function that builds (once) and returns the folder.
# The pipeline registers "testbed" (the tiny base it pretrains), which needs the pipeline to build.
NAMED_MODELS: dict = {smollm2.NAME: smollm2.build}
# named models whose architecture is known before they are built -> a function giving their config
NAMED_ARCHITECTURES: dict = {smollm2.NAME: smollm2.architecture}


def resolve_model_path(name: str) -> str:
    """A local folder, or a hub id already in the local cache; fails early otherwise."""
    if name in NAMED_MODELS:
        return str(NAMED_MODELS[name]())
    if Path(name).expanduser().is_dir():
        if not (Path(name).expanduser() / "config.json").is_file():
            raise RecipeError(f"model.name_or_path = {name!r} is a folder without config.json")
        check_config_file(Path(name).expanduser(), "model.name_or_path")
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
    if Path(model.name_or_path).expanduser().is_dir():
        check_weights(Path(model.name_or_path).expanduser(), "model.name_or_path")
    if model.tokenizer not in (None, "testbed"):
        check_tokenizer_folder(Path(model.tokenizer).expanduser(), "model.tokenizer")
    elif model.tokenizer is None and Path(model.name_or_path).expanduser().is_dir():
        check_tokenizer_folder(Path(model.name_or_path).expanduser(), "model.name_or_path (its tokenizer)")
    return config


def architecture_config(model: ModelConfig):
    """The model's config without its weights, for checks before work starts (for a model longft
    builds itself, the architecture its recipe builds, vocabulary aside); None for one it cannot tell."""
    if model.init == "scratch":
        return config_class(model.family)(**dict(model.arch))
    if model.name_or_path in BUILT_BY_RECIPE:  # not built yet: the architecture its recipe will build
        from .recipe.loading import read_recipe

        return architecture_config(read_recipe(BUILT_BY_RECIPE[model.name_or_path]).model)
    if model.name_or_path in NAMED_ARCHITECTURES:
        return NAMED_ARCHITECTURES[model.name_or_path]()
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
    """The dtype the weights are loaded in (bf16-mixed and auto-mixed keep them in fp32)."""
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float32


def computes_in_bf16(precision: str) -> bool:
    """Whether training runs its matmuls in bf16 (transformers' `bf16=True`: autocast)."""
    return resolve_precision(precision) == "bf16-mixed" or model_dtype(precision) == torch.bfloat16


def loadable_attention(config, requested: str) -> str:
    """The implementation to build the model with: the recipe's, except SDPA on a family whose class
    does not take it (Gemma 2, whose soft cap SDPA cannot apply), which builds with eager. longft's own
    attention functions replace either once the model is built."""
    from transformers import AutoModelForCausalLM

    model_class = AutoModelForCausalLM._model_mapping.get(type(config), None)
    if requested == "sdpa" and model_class is not None and not getattr(model_class, "_supports_sdpa", True):
        return "eager"
    return requested


def load_model(
    model: ModelConfig, position: PositionConfig, target_len: int, tokenizer, dtype=torch.float32, quantization=None
):
    from transformers import AutoConfig, AutoModelForCausalLM

    if model.init == "scratch":
        arch = dict(model.arch)
        config = config_class(model.family)(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **arch,
        )
        apply_position_method(config, position, target_len)
        attn = config._attn_implementation = loadable_attention(config, model.attn_implementation)
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    path = resolve_model_path(model.name_or_path)
    config = AutoConfig.from_pretrained(path)
    apply_position_method(config, position, target_len)
    return AutoModelForCausalLM.from_pretrained(
        path, config=config, dtype=dtype, attn_implementation=loadable_attention(config, model.attn_implementation),
        quantization_config=quantization
    )


WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin")


def check_config_file(folder: Path, what: str) -> None:
    """config.json is JSON and names a model type this transformers knows."""
    from transformers import CONFIG_MAPPING

    path = Path(folder) / "config.json"
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise RecipeError(f"{what} {str(folder)!r}: config.json is not valid JSON ({exc}); "
                          "is it a model folder written by save_pretrained?") from None
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if model_type not in CONFIG_MAPPING:
        close = difflib.get_close_matches(str(model_type), list(CONFIG_MAPPING.keys()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RecipeError(f"{what} {str(folder)!r}: config.json has model_type {model_type!r}, which this transformers "
                          f"does not know{hint}; supported by longft: {', '.join(SUPPORTED_MODEL_TYPES)}")


def check_weights(folder: Path, what: str) -> None:
    """The folder holds weights, and every safetensors file is whole: its header parses and the file
    is as long as the header says (a copy cut short fails here, not in safetensors' loader)."""
    folder = Path(folder)
    files = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    for index in WEIGHT_INDEXES:
        if (folder / index).is_file():
            try:
                shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise RecipeError(f"{what} {str(folder)!r}: {index} is not a valid weight index") from None
            missing = [name for name in shards if not (folder / name).is_file()]
            if missing:
                raise RecipeError(f"{what} {str(folder)!r}: {index} lists {missing[0]!r}, which is not in the folder")
            files += [folder / name for name in shards]
    if not files:
        raise RecipeError(f"{what} {str(folder)!r} holds no weights (none of {', '.join(WEIGHT_FILES)} or a sharded "
                          "index); pass a folder written by save_pretrained")
    for path in files:
        if path.suffix == ".safetensors":
            problem = safetensors_problem(path)
            if problem:
                raise RecipeError(f"{what} {str(folder)!r}: {path.name} is damaged ({problem}); copy it again")


def safetensors_problem(path: Path) -> str | None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{size} bytes, shorter than a header"
        length = int.from_bytes(head, "little")
        if length > size - 8:
            return f"its header claims {length} bytes, the file has {size}"
        try:
            header = json.loads(f.read(length))
        except ValueError:
            return "its header is not valid JSON"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__" and isinstance(entry, dict)]
    needed = 8 + length + max(ends, default=0)
    if needed > size:
        return f"{size} bytes where its header needs {needed}: cut short"
    return None


def check_tokenizer_folder(folder: Path, what: str) -> None:
    names = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")
    if Path(folder).is_dir() and not any((Path(folder) / name).is_file() for name in names):
        raise RecipeError(f"{what} {str(folder)!r} holds no tokenizer files (none of {', '.join(names)}); "
                          "point model.tokenizer at a folder written by a tokenizer's save_pretrained")
