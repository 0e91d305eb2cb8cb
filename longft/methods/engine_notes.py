"""What serving engines will do with an exported checkpoint, where it is not what transformers does.

Each position method (positions/methods/) and each inference attention method (methods/*/) says it
in its own `engine_note`; this collects them for one exported config. yarn, linear, llama3 and
plain RoPE have none: vLLM runs them as transformers does (measured; docs/guides/serving.md).
"""
from __future__ import annotations

from ..attention.method import CONFIG_KEY
from ..positions.methods import POSITION_METHODS
from ..positions.rope import with_scaled_rope
from .registry import ATTENTION_METHODS


def engine_notes(config: dict) -> list[str]:
    """`config`: an exported config.json's contents (per-layer-type rope: the scaled type's entry)."""
    notes = []
    config = with_scaled_rope(config)
    rope_type = (config.get("rope_parameters") or {}).get("rope_type")
    for method in POSITION_METHODS.values():
        if method.engine_note and method.rope_type == rope_type:
            notes.append(method.engine_note(config))
    saved = config.get(CONFIG_KEY)
    if saved:
        note = ATTENTION_METHODS[saved["method"]].engine_note
        if note:
            notes.append(note(saved))
    return notes


def notes_for_model(model) -> list[str]:
    return engine_notes(model.config.to_dict())


def export_for_serving(model, tokenizer, out, extra_files=None, state_dict=None, label: str = "export") -> list[str]:
    """`export.export_checkpoint` with this checkpoint's engine notes in longft_export.json, each
    also printed as a warning."""
    from ..export import export_checkpoint

    notes = notes_for_model(model)
    export_checkpoint(model, tokenizer, out, extra_files, state_dict=state_dict, notes=notes)
    for note in notes:
        print(f"[{label}] warning: {note}", flush=True)
    return notes
