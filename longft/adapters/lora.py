"""LoRA adapters (peft) with trainable embeddings and norms (LongLoRA's "LoRA+"), and QLoRA's 4-bit base.

adapter.method = lora: peft LoRA on the target projections, with the embedding and every norm
trained in full (peft `modules_to_save`, so checkpoints hold them and merge folds them in). Any
recipe can take adapters; LongLoRA's S²-Attn is methods/longlora/.
"""
from __future__ import annotations

import torch

from ..recipe.schema import AdapterConfig
from ..errors import RecipeError
from ..families import family_of


def lora_targets(adapter: AdapterConfig, config) -> list:
    """The recipe's `adapter.target_modules`, or its model family's attention projections."""
    return list(adapter.target_modules) if adapter.target_modules else list(family_of(config).lora_targets)


def trainable_modules(key: str, config) -> tuple:
    """The modules `adapter.trainable_params` entry `key` names in this model's family."""
    family = family_of(config)
    return {"embed": family.embed, "norm": family.norms, "lm_head": ("lm_head",)}[key]


def _untie_output(model) -> None:
    """A trainable embedding must not drag a frozen tied lm_head along with it."""
    if getattr(model.config, "tie_word_embeddings", False):
        out = model.get_output_embeddings()
        out.weight = torch.nn.Parameter(model.get_input_embeddings().weight.detach().clone())
        model.config.tie_word_embeddings = False


def apply_adapter(model, adapter: AdapterConfig):
    if adapter.method == "none":
        return model
    from peft import LoraConfig, get_peft_model

    modules_to_save = [m for key in adapter.trainable_params for m in trainable_modules(key, model.config)]
    if "embed" in adapter.trainable_params and "lm_head" not in adapter.trainable_params:
        _untie_output(model)
    config = LoraConfig(
        r=adapter.r,
        lora_alpha=adapter.alpha,
        lora_dropout=adapter.dropout,
        target_modules=lora_targets(adapter, model.config),
        modules_to_save=modules_to_save or None,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    peft_model.enable_input_require_grads()  # gradient checkpointing needs grads flowing from the inputs
    return peft_model


def quantization_config(adapter: AdapterConfig):
    """QLoRA: 4-bit NF4 base weights through bitsandbytes; a clear error where it is missing."""
    if adapter.quantize == "none":
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise RecipeError(
            "adapter.quantize = '4bit' needs bitsandbytes (pip install 'longft[qlora]') and a CUDA GPU"
        ) from None
    if not torch.cuda.is_available():
        raise RecipeError("adapter.quantize = '4bit' needs a CUDA GPU; bitsandbytes 4-bit training does not run on the CPU")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def trainable_parameter_names(model) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def check_lora_targets(adapter: AdapterConfig, config) -> None:
    """Every `adapter.target_modules` name is a module of the model, found on an empty (meta-device)
    copy built from its config: no weights are read. Regexes and peft's "all-linear" are left to peft."""
    import re

    import torch
    from transformers import AutoModelForCausalLM

    if adapter.method != "lora" or config is None:
        return
    plain = [name for name in lora_targets(adapter, config) if name != "all-linear" and re.fullmatch(r"[\w.]+", str(name))]
    if not plain:
        return
    model_class = AutoModelForCausalLM._model_mapping[type(config)]
    with torch.device("meta"):
        skeleton = model_class(config)
    names = {name for name, _ in skeleton.named_modules()}
    leaves = {name.rsplit(".", 1)[-1] for name in names}
    unknown = [t for t in plain if t not in leaves and not any(n.endswith("." + t) for n in names)]
    if unknown:
        linear = sorted({name.rsplit(".", 1)[-1] for name, module in skeleton.named_modules()
                         if isinstance(module, torch.nn.Linear)})
        raise RecipeError(f"adapter.target_modules has {unknown}, which {config.model_type!r} models do not have; "
                          f"its linear layers are {', '.join(linear)}")
