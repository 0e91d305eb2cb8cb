"""Write a plain Hugging Face checkpoint: adapters merged, rope config set, tokenizer beside it.

The result loads with `AutoModelForCausalLM.from_pretrained` / `AutoTokenizer` alone: no
longft code, no custom attention (training-only attention is swapped back to SDPA).
"""
from __future__ import annotations

import copy
from pathlib import Path

from ..outputs import recover_folder, replace_folder, staging_folder
from .reader_config import write_reader_fields

TRAINING_ONLY_ATTENTION_PREFIX = "longft_"


def merge_adapters(model):
    try:
        from peft import PeftModel
    except ImportError:  # peft is a dependency, but a plain model needs no merge
        return model
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model


def merge_gathered_adapters(model, state_dict: dict):
    """Merge a PEFT model trained under ZeRO-3 / FSDP, whose local modules hold only shards.

    The model is rebuilt on the meta device with the same adapter config, takes the gathered full
    weights (adapters, base weights, trained embeddings and norms) as its own tensors, and peft
    merges it as it would any other model."""
    import torch
    from peft import get_peft_model

    base = model.get_base_model()
    with torch.device("meta"):
        skeleton = get_peft_model(type(base)(copy.deepcopy(base.config)), copy.deepcopy(model.peft_config[model.active_adapter]))
    result = skeleton.load_state_dict(state_dict, strict=False, assign=True)
    if skeleton.config.tie_word_embeddings:
        skeleton.get_base_model().tie_weights()
    still_meta = [n for n, p in skeleton.state_dict().items() if p.is_meta]
    if result.unexpected_keys or still_meta:
        raise RuntimeError(
            "the gathered weights do not fit the adapter model: "
            f"missing {still_meta[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    rebuilt = skeleton.get_base_model()
    for name, buffer in base.named_buffers():  # non-persistent buffers (rotary frequencies) are in no state dict
        if rebuilt.get_buffer(name).is_meta:
            owner, _, leaf = name.rpartition(".")
            rebuilt.get_submodule(owner).register_buffer(leaf, buffer.detach().clone(), persistent=False)
    return skeleton.merge_and_unload()


def export_checkpoint(model, tokenizer, out: Path, extra_files: dict[str, str] | None = None, state_dict=None,
                      notes: list[str] | None = None) -> Path:
    """Save next to `out`, then rename, so an existing checkpoint is never half-overwritten.
    Callers decide whether `out` may be replaced (`outputs.check_replace_target`).

    The config and tokenizer get the fields every reader looks for (reader_config.py); `notes`,
    what serving engines will do with this checkpoint (methods/engine_notes.py), go into
    longft_export.json beside the weights.

    `state_dict`: the full weights gathered from DeepSpeed / FSDP training, whose local module may
    hold only a shard; adapters are merged from them."""
    out = Path(out)
    if state_dict is not None and type(model).__name__.startswith("Peft"):
        attn_trained = getattr(model.config, "_attn_implementation", None)
        model, state_dict = merge_gathered_adapters(model, state_dict), None
        if attn_trained:
            model.config._attn_implementation = attn_trained
    model = merge_adapters(model)
    attn = getattr(model.config, "_attn_implementation", None) or "sdpa"
    recover_folder(out)
    tmp = staging_folder(out)
    # the saved config names plain SDPA; the model in memory keeps the attention it trained with
    if attn.startswith(TRAINING_ONLY_ATTENTION_PREFIX):
        model.config._attn_implementation = "sdpa"
    try:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
    finally:
        model.config._attn_implementation = attn
    tokenizer.save_pretrained(tmp)
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text)
    write_reader_fields(tmp, notes)
    replace_folder(tmp, out)
    return out


def save_initial(model, tokenizer, stage, initial_dir: Path | None) -> None:
    """A scratch-initialised first stage keeps its initial weights: the "base" it is compared with."""
    if initial_dir is not None and stage.model.init == "scratch" and not initial_dir.exists():
        export_checkpoint(model, tokenizer, initial_dir)
