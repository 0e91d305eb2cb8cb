"""The one evaluation path: a checkpoint, optionally its base and zero-shot baselines, one report.

`longft train` (after the last stage) and `longft eval` both come here, so a number in a run's
report and one from `longft eval` on the same checkpoint are computed the same way.
"""
from __future__ import annotations

from pathlib import Path


def load_for_eval(path: str, config=None, dtype: str = "float32"):
    """In `dtype` (eval.dtype), with the attention method the checkpoint records (log-n, window, hybrid, FoT) switched on,
    read through its cache where it has one (FoT's memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..methods.registry import inference_model, restore_attention
    from ..precision import resolve_dtype

    return inference_model(restore_attention(AutoModelForCausalLM.from_pretrained(
        str(path), config=config, dtype=getattr(torch, resolve_dtype(dtype)))))


def zero_shot_model(base_path: str, method: str, window: int, target: int, dtype: str = "float32"):
    """The base model with no training at all, and a position method at the target factor, log-n or
    hybrid attention (trained length = the original window), or StreamingLLM's attention sinks in
    the original window's size."""
    from transformers import AutoConfig

    from ..attention.method import CONFIG_KEY
    from ..positions.rope import apply_position_method
    from ..recipe.schema import PositionConfig

    factor = target / window
    config = AutoConfig.from_pretrained(base_path)
    if method in ZERO_SHOT_ATTENTION:
        setattr(config, CONFIG_KEY, ZERO_SHOT_ATTENTION[method](window))
        return load_for_eval(base_path, config, dtype), zero_shot_label(method, window)
    apply_position_method(config, PositionConfig(method=method, factor=factor, original_max_position_embeddings=window), target)
    return load_for_eval(base_path, config, dtype), f"base + {method} x{factor:g} (zero-shot)"


SINK_TOKENS = 4  # StreamingLLM's default: 4 sink tokens, the rest of the original window recent tokens


def zero_shot_label(method: str, window: int) -> str:
    label = ZERO_SHOT_LABELS.get(method)
    return label(window) if label else f"base + {method} attention (zero-shot)"


# attention methods that apply to a base model untouched: name -> settings for an original window
ZERO_SHOT_ATTENTION = {
    "logn": lambda window: {"method": "logn", "base": window},
    "hybrid": lambda window: {"method": "hybrid", "window": window, "full_layers": 1, "logn_base": window},
    "sinks": lambda window: {"method": "sinks", "sinks": SINK_TOKENS, "window": window - SINK_TOKENS},
}
# where a report names the baseline by more than its method: name -> label for an original window
ZERO_SHOT_LABELS = {"sinks": lambda window: f"base + attention sinks ({SINK_TOKENS} + {window - SINK_TOKENS})"}


def check_ruler_lengths(checkpoint, base, ev, window, position, target) -> list[int]:
    """Before anything loads: the RULER lengths suit every model evaluated. Returns the lengths
    (empty when the RULER suite is not asked for)."""
    if "ruler" not in ev.suites:
        return []
    from transformers import AutoConfig

    from ..positions.rope import original_window
    from .ruler.run import check_lengths, ruler_lengths

    config = AutoConfig.from_pretrained(str(checkpoint))
    lengths = ruler_lengths(ev, window or (None if ev.ruler_lengths else original_window(config, position)), target)
    check_lengths(config, lengths, str(checkpoint))
    if base is not None:
        check_lengths(AutoConfig.from_pretrained(str(base)), lengths, str(base))
    return lengths


def ruler_haystack(tokenizer, ev, lengths: list[int], frame=None):
    """The held-out text the RULER tasks hide needles in, checked against the longest length and
    against one sample of every task at the shortest, before any model loads."""
    if not lengths:
        return None
    from ..data.sources import load_documents
    from .ruler.haystack import Haystack
    from .ruler.run import check_tasks_fit

    haystack = Haystack(tokenizer, list(load_documents(ev.sources)["text"]))
    haystack.require(max(lengths))
    check_tasks_fit(tokenizer, haystack, ev, min(lengths), frame)
    return haystack


def evaluate_checkpoint(
    checkpoint: Path,
    ev,
    report_dir: Path,
    target: int,
    label: str,
    window: int | None = None,
    position=None,
    base: str | None = None,
    base_label: str = "base (no scaling)",
    settings: str = "the recipe's",
) -> dict:
    """Evaluate `checkpoint` (and `base` with `ev.zero_shot_baselines`, when given) and write the report.
    `window`: the original window; read from the checkpoint's config (with `position`) when None.
    `settings`: whose evaluation settings these are, for the printout and the report.
    The report folder is locked for the whole evaluation: a second one into it is refused at once."""
    from ..run_lock import RunLock

    with RunLock.beside(report_dir, "report folder", "choose another --out"):
        return _evaluate(checkpoint, ev, report_dir, target, label, window, position, base, base_label, settings)


def _evaluate(checkpoint, ev, report_dir, target, label, window, position, base, base_label, settings) -> dict:
    from transformers import AutoTokenizer

    from ..models import check_config_file, check_weights
    from ..positions.rope import original_window
    from ..precision import precision_notice
    from .presets import describe
    from .report import write_report
    from .suite import evaluate_model

    folders = [(checkpoint, "checkpoint"), *([(base, "base")] if base is not None else [])]
    for folder, what in folders:
        check_config_file(folder, what)
    lengths = check_ruler_lengths(checkpoint, base, ev, window, position, target)
    for folder, what in folders:
        check_weights(folder, what)
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    frame = None
    if ev.chat_template:
        from .chat import chat_frame

        frame = chat_frame(tokenizer)
    haystack = ruler_haystack(tokenizer, ev, lengths, frame)
    model = load_for_eval(checkpoint, dtype=ev.dtype)
    window = window or original_window(model.config, position)
    prompts = describe(ev)
    if notice := precision_notice("eval.dtype", ev.dtype):
        print(notice, flush=True)
    print(f"[eval] {settings} evaluation settings: original window {window}, target {target}; {prompts}", flush=True)
    results = []
    if base is not None and ev.compare_base:
        base_model = load_for_eval(base, dtype=ev.dtype)
        results.append(evaluate_model(base_model, tokenizer, ev, window, target, base_label, haystack, frame))
        del base_model
    for method in ev.zero_shot_baselines if base is not None else ():
        zero_shot, zero_label = zero_shot_model(base, method, window, target, ev.dtype)
        results.append(evaluate_model(zero_shot, tokenizer, ev, window, target, zero_label, haystack, frame))
        del zero_shot
    results.append(evaluate_model(model, tokenizer, ev, window, target, label, haystack, frame))
    if "ruler" in ev.suites:
        from .ruler.effective_length import add_effective_lengths

        add_effective_lengths(results, window, ev.ruler_threshold_ratio, reference=0 if len(results) > 1 else None)
    table = write_report(results, window, target, report_dir, extra={"settings": settings, "prompts": prompts})
    print(f"\nHeld-out evaluation ({settings} settings: original window {window}, target {target}; {prompts}); "
          f"report in {report_dir}\n{table}\n", flush=True)
    return {"dir": str(report_dir), "models": results}
