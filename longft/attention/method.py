"""What an attention method gives the registry (methods/registry.py lists the entries).

Each entry checks its settings at recipe load (`validate(attention, seq_len, window)`, window =
the original window where known), checks the machine before work starts (`preflight(attention)`:
a GPU-only path without its package), and registers its function with transformers'
AttentionInterface / AttentionMaskInterface (`register(attention, window) -> implementation name`).
Methods that also change inference (log-n, window, hybrid, FoT) give `settings(attention, window)`,
which the exported config keeps under CONFIG_KEY, and `restore(settings) -> implementation name`,
with which longft's loaders switch them back on. A method that lays training batches out in rows
of its own gives `rows(attention)` for the collator; one that evaluates through a cache of its own
gives `inference_model(model, settings)`; `check_stage(attention, stage, model config)` checks it
against the model and the batch before work starts; `position_span(attention, seq_len)` says how
far positions run in a row when that is less than the sequence; `row_length(attention, seq_len)`
how many tokens a row holds where the method adds some (landmarks); `smoke_params` shrinks its settings
for --smoke. `prepare(model, tokenizer, attention) -> dict` changes model and tokenizer before
training (a token of its own) and gives what the recorded settings add. `refusal(attention, model config)` says why a model family cannot take the method
(None where it can), before work starts. `engine_note` says what a serving engine, which knows none of this, runs instead
(longft export writes it beside the weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

CONFIG_KEY = "longft_attention"  # where an exported config records the inference attention


@dataclass(frozen=True)
class AttentionMethod:
    validate: Callable  # (attention settings, sequence length, original window) -> None, raises RecipeError
    preflight: Callable  # (attention settings) -> None, raises RecipeError
    register: Callable  # (attention settings, original window) -> the attn_implementation name to switch to
    settings: Callable | None = None  # (attention settings, original window) -> what inference needs
    restore: Callable | None = None  # (those settings) -> the attn_implementation name
    rows: Callable | None = None  # (attention settings, data.seq_len, tokenizer) -> the collator's row layout
    check_stage: Callable | None = None  # (attention settings, stage recipe, model config) -> None, raises
    inference_model: Callable | None = None  # (model, saved settings) -> what evaluation runs
    position_span: Callable | None = None  # (attention settings, seq_len) -> positions a row spans
    row_length: Callable | None = None  # (attention settings, seq_len) -> tokens a row holds, where more than seq_len
    smoke_params: Callable | None = None  # (params, smoke seq_len, stand-in layers) -> params for --smoke
    engine_note: Callable | None = None  # (saved settings) -> what plain engines lose, for inference methods
    refusal: Callable | None = None  # (attention settings, model config) -> why the family cannot take it, or None
    prepare: Callable | None = None  # (model, tokenizer, attention settings) -> settings to record beside its own


def nothing(*args) -> None:
    """A preflight with nothing to check."""
