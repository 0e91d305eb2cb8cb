"""`longft serve-check CHECKPOINT`: the same held-out prompts scored by transformers and by an engine,
agreement by length band; exit 1 when a band differs past the tolerance or is not served."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import RecipeError
from ..export import EXPORT_NOTES_FILE, serving_length
from ..export.reader_config import original_window
from .compare import compare_band, format_bands
from .engines import ENGINES
from .prompts import check_lengths, default_lengths, serving_prompts

DEFAULT_TOLERANCE = 0.01  # nats a token: perplexities within 1%


def read_export_config(checkpoint: Path) -> dict:
    from ..models import check_config_file, check_weights

    if not checkpoint.is_dir() or not (checkpoint / "config.json").is_file():
        raise RecipeError(f"{str(checkpoint)!r} is not a checkpoint (no config.json); pass a folder written by "
                          "longft export or longft train")
    check_config_file(checkpoint, "checkpoint")
    check_weights(checkpoint, "checkpoint")
    return json.loads((checkpoint / "config.json").read_text())


def plan_check(checkpoint: Path, engine: str, lengths: list[int] | None, engine_python: str | None,
               context: int | None = None) -> list[int]:
    """Everything checked before a model loads; the lengths to score."""
    if engine not in ENGINES:
        raise RecipeError(f"--engine {engine!r} is not known; engines: {', '.join(ENGINES)}")
    config = read_export_config(checkpoint)
    serving = serving_length(config)
    if context is not None and not 1 < context <= serving:
        raise RecipeError(f"--context {context}: must be > 1 and at most the {serving} tokens the export serves")
    lengths = sorted(set(lengths)) if lengths else default_lengths(original_window(config), serving)
    check_lengths(lengths, serving)
    ENGINES[engine].preflight(engine_python)
    return lengths


def serve_check(checkpoint: Path, engine: str, lengths: list[int], sources: list[dict], num_docs: int,
                tolerance: float, engine_python: str | None, context: int | None = None) -> int:
    """`context`: the context length the engine is started with (vLLM's max_model_len, lm-eval's
    max_length); None leaves it to derive one from the export, as it does for a user who sets none."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    notes_file = checkpoint / EXPORT_NOTES_FILE
    if notes_file.is_file():
        for note in json.loads(notes_file.read_text()).get("warnings", []):
            print(f"[serve-check] the export says: {note}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    prompts = serving_prompts(sources, tokenizer, lengths, num_docs)
    started = f"started with a context of {context}" if context else "with the context it derives from the export"
    print(f"[serve-check] {ENGINES[engine].what}, {started}: {len(next(iter(prompts.values())))} prompts at "
          f"{lengths} tokens", flush=True)
    scored, served = ENGINES[engine].score(checkpoint, tokenizer, prompts, engine_python, context)
    print(f"[serve-check] {engine} serves up to {served} tokens; scoring the same tokens with transformers", flush=True)
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    bands = [compare_band(model, n, len(prompts[n]), scored.get(n, [])) for n in lengths]
    print(format_bands(bands, engine, tolerance, served))
    failed = [b.length for b in bands if not b.agrees(tolerance)]
    if failed:
        print(f"serve-check: {engine} differs from transformers at {failed} tokens (tolerance {tolerance} nats a token)")
        return 1
    print(f"serve-check: {engine} agrees with transformers at every length (tolerance {tolerance} nats a token)")
    return 0
