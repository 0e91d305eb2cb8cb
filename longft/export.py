"""Write a plain Hugging Face checkpoint: adapters merged, rope config set, tokenizer beside it.

The result loads with `AutoModelForCausalLM.from_pretrained` / `AutoTokenizer` alone: no
longft code, no custom attention (training-only attention is swapped back to SDPA).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .outputs import recover_folder, replace_folder

TRAINING_ONLY_ATTENTION_PREFIX = "longft_"


def merge_adapters(model):
    try:
        from peft import PeftModel
    except ImportError:  # peft is a dependency, but a plain model needs no merge
        return model
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model


def export_checkpoint(model, tokenizer, out: Path, extra_files: dict[str, str] | None = None, state_dict=None) -> Path:
    """Save next to `out`, then rename, so an existing checkpoint is never half-overwritten.
    Callers decide whether `out` may be replaced (`outputs.check_replace_target`).

    `state_dict`: the full weights gathered from sharded training (ZeRO-3 / FSDP), whose local
    module holds only a shard."""
    out = Path(out)
    if state_dict is not None and type(model).__name__.startswith("Peft"):
        raise RuntimeError(
            "merging LoRA adapters trained under ZeRO-3 / FSDP sharding is not supported here: "
            "train adapters with DDP or ZeRO-2, or export the adapter checkpoint with `longft export`"
        )
    model = merge_adapters(model)
    attn = getattr(model.config, "_attn_implementation", None) or "sdpa"
    recover_folder(out)
    tmp = out.with_name(out.name + ".tmp")  # a leftover of a killed export is ours to clear
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
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
    replace_folder(tmp, out)
    return out


def save_initial(model, tokenizer, stage, initial_dir: Path | None) -> None:
    """A scratch-initialised first stage keeps its initial weights: the "base" it is compared with."""
    if initial_dir is not None and stage.model.init == "scratch" and not initial_dir.exists():
        export_checkpoint(model, tokenizer, initial_dir)
