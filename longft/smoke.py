"""--smoke: the same code path as the real recipe, on a tiny stand-in model and a few steps.

The stand-in keeps the recipe's architecture family, position method and extension
ratio (target length / original window) but shrinks the window, so every shipped recipe,
paper-sized or not, runs on a CPU in seconds on data that is on the machine.
"""
from __future__ import annotations

from .config import Recipe, from_dict

STANDIN_ARCH = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "tie_word_embeddings": True,
}


def smoke_windows(recipe: Recipe) -> tuple[int, int]:
    """(stand-in original window, stand-in training length), keeping the extension ratio."""
    orig = recipe.position.original_max_position_embeddings
    ratio = recipe.data.seq_len / orig if orig else 1.0
    window = max(16, min(64, int(256 // ratio)))
    # a multiple of 8 so that S²-Attn's four groups of even size fit too
    return window, max(window, int(window * ratio) // 8 * 8)


def smoke_recipe(recipe: Recipe, first_stage: bool = True) -> Recipe:
    d = recipe.to_dict()
    window, seq_len = smoke_windows(recipe)
    if first_stage:
        d["model"].update(
            name_or_path="standin",
            init="scratch",
            tokenizer="testbed",
            arch={**STANDIN_ARCH, "max_position_embeddings": window},
        )
    if d["position"]["original_max_position_embeddings"] or d["position"]["method"] != "none":
        d["position"]["original_max_position_embeddings"] = window
    d["data"].update(
        sources=[{"type": "testbed", "split": "train", "max_files": 40}],
        seq_len=seq_len,
        min_doc_tokens=2,
        max_train_tokens=30_000,
        num_proc=1,
    )
    d["train"].update(
        max_steps=2,
        batch_size=1,
        grad_accum=2,
        save_steps=1,
        logging_steps=1,
        warmup_steps=min(d["train"]["warmup_steps"], 1),
        precision="fp32",
        deepspeed=None,
        report_to=["none"],
    )
    d["eval"].update(
        sources=[{"type": "testbed", "split": "heldout"}],
        num_docs=2,
        target_tokens=8,
        context_lengths=[],
        sliding_stride=None,
        passkey_lengths=[],
        passkey_depths=[0.5],
        passkey_trials=1,
    )
    if d["attention"]["group_size"]:  # a fixed group keeps its share of the shrunk length
        d["attention"]["group_size"] = max(2, seq_len // 4 // 2 * 2)
    d["adapter"]["quantize"] = "none"  # 4-bit needs a GPU; the stand-in runs the same LoRA path
    return from_dict(d)
