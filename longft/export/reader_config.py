"""The config and tokenizer fields every reader of an export looks for.

transformers 5 reads `rope_parameters`; transformers 4.x, TGI, SGLang's Llama, DeepSpeed inference
and older llama.cpp converters read the legacy `rope_scaling` with a top-level `rope_theta`, and run a
checkpoint without them unscaled, silently. So an export carries both forms, identical (transformers 5
reads the pair back to the same `rope_parameters`), plus the lengths engines take the served context
from: `max_position_embeddings`, the top-level `original_max_position_embeddings` (llama.cpp's
converter reads it for llama3 and longrope) and the tokenizer's `model_max_length` (TGI serves at most
that; vLLM 0.32 reads it for pooling models only, lm-eval where the config gives no length).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..attention.method import CONFIG_KEY
from ..positions.methods import dynamic_ntk
from ..positions.rope import window_of, with_scaled_rope

EXPORT_NOTES_FILE = "longft_export.json"  # what engines will do with the checkpoint, beside the weights
TOP_LEVEL_WINDOW_TYPES = ("llama3", "longrope")


def serving_length(config: dict) -> int:
    """The longest context the export is meant to serve. Dynamic NTK keeps the original window in
    `max_position_embeddings` (its scaling starts past it) and reaches factor x that."""
    config = with_scaled_rope(config)
    rope = config.get("rope_parameters") or {}
    if rope.get("rope_type") == "dynamic":
        return dynamic_ntk.target_length(config)
    return int(config["max_position_embeddings"])


def original_window(config: dict) -> int:
    config = with_scaled_rope(config)
    return window_of(config.get("rope_parameters") or {}, config["max_position_embeddings"])


def for_every_reader(config: dict) -> dict:
    """`config` (a config.json's contents) with the legacy rope fields beside `rope_parameters`.
    A per-layer-type (nested) `rope_parameters` has no legacy form and is left as it is."""
    out = {**config, "use_cache": True}  # `use_cache: false` is a training setting
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict) or "rope_type" not in rope:
        return out
    if isinstance(rope.get("factor"), int):  # vLLM's linear scaling takes a float or a list, not an int
        rope = out["rope_parameters"] = {**rope, "factor": float(rope["factor"])}
    # legacy readers take no rope_scaling as "unscaled"; some (TGI) refuse a "default" entry
    out["rope_scaling"] = dict(rope) if rope["rope_type"] != "default" else None
    out["rope_theta"] = rope["rope_theta"]
    if rope["rope_type"] in TOP_LEVEL_WINDOW_TYPES and rope.get("original_max_position_embeddings"):
        out["original_max_position_embeddings"] = rope["original_max_position_embeddings"]
    return out


def write_reader_fields(folder: Path, notes: list[str] | None) -> None:
    """Rewrite a saved checkpoint's config.json and tokenizer_config.json in place (a staging
    folder: nothing here is visible until the rename), and write the engine notes if given."""
    config_file = folder / "config.json"
    config = for_every_reader(json.loads(config_file.read_text()))
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    length = serving_length(config)
    tokenizer_file = folder / "tokenizer_config.json"
    if tokenizer_file.is_file():
        tokenizer_config = json.loads(tokenizer_file.read_text())
        tokenizer_config["model_max_length"] = length
        tokenizer_file.write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    if notes is not None:
        rope = with_scaled_rope(config).get("rope_parameters") or {}
        summary = {
            "rope_type": rope.get("rope_type"),
            "original_window": original_window(config),
            "serving_length": length,
            "attention": config.get(CONFIG_KEY),
            "warnings": list(notes),
        }
        (folder / EXPORT_NOTES_FILE).write_text(json.dumps(summary, indent=2) + "\n")
