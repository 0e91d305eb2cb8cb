"""The one evaluation path: a checkpoint, optionally its base and zero-shot baselines, one report.

`longft train` (after the last stage) and `longft eval` both come here, so a number in a run's
report and one from `longft eval` on the same checkpoint are computed the same way.
"""
from __future__ import annotations

from pathlib import Path


def load_for_eval(path: str, config=None):
    """fp32, with the attention method the checkpoint records (log-n, window, hybrid) switched on."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..attention.registry import restore_attention

    return restore_attention(AutoModelForCausalLM.from_pretrained(str(path), config=config, dtype=torch.float32))


def zero_shot_model(base_path: str, method: str, window: int, target: int):
    """The base model with no training at all, and a position method at the target factor, log-n or
    hybrid attention (trained length = the original window), or a StreamingLLM sink cache of the
    original window's size."""
    from transformers import AutoConfig

    from ..attention.registry import CONFIG_KEY
    from ..positions.rope import apply_position_method
    from ..recipe.schema import PositionConfig

    factor = target / window
    config = AutoConfig.from_pretrained(base_path)
    if method == "sinks":
        from .sinks import StreamingSinkModel

        model = StreamingSinkModel(load_for_eval(base_path), sinks=SINK_TOKENS, window=window - SINK_TOKENS)
        return model, f"base + attention sinks ({SINK_TOKENS} + {window - SINK_TOKENS})"
    if method in ZERO_SHOT_ATTENTION:
        setattr(config, CONFIG_KEY, ZERO_SHOT_ATTENTION[method](window))
        return load_for_eval(base_path, config), f"base + {method} attention (zero-shot)"
    apply_position_method(config, PositionConfig(method=method, factor=factor, original_max_position_embeddings=window), target)
    return load_for_eval(base_path, config), f"base + {method} x{factor:g} (zero-shot)"


SINK_TOKENS = 4  # StreamingLLM's default: 4 sink tokens, the rest of the original window recent tokens

# attention methods that apply to a base model untouched: name -> settings for an original window
ZERO_SHOT_ATTENTION = {
    "logn": lambda window: {"method": "logn", "base": window},
    "hybrid": lambda window: {"method": "hybrid", "window": window, "full_layers": 1, "logn_base": window},
}


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
) -> dict:
    """Evaluate `checkpoint` (and `base` with `ev.zero_shot_baselines`, when given) and write the report.
    `window`: the original window; read from the checkpoint's config (with `position`) when None."""
    from transformers import AutoTokenizer

    from ..positions.rope import original_window
    from .report import write_report
    from .suite import evaluate_model

    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    model = load_for_eval(checkpoint)
    window = window or original_window(model.config, position)
    results = []
    if base is not None and ev.compare_base:
        base_model = load_for_eval(base)
        results.append(evaluate_model(base_model, tokenizer, ev, window, target, base_label))
        del base_model
    for method in ev.zero_shot_baselines if base is not None else ():
        zero_shot, zero_label = zero_shot_model(base, method, window, target)
        results.append(evaluate_model(zero_shot, tokenizer, ev, window, target, zero_label))
        del zero_shot
    results.append(evaluate_model(model, tokenizer, ev, window, target, label))
    table = write_report(results, window, target, report_dir)
    print(f"\nHeld-out evaluation (original window {window}, target {target}); report in {report_dir}\n{table}\n", flush=True)
    return {"dir": str(report_dir), "models": results}
