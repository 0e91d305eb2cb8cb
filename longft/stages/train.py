"""`kind: train` — pack the data, train (or resume), export the stage's checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

from ..stage_marker import STAGE_MARKER


def describe(stage) -> str:
    return f"{stage.position.method} -> {stage.data.seq_len} tokens, {stage.train.max_steps} steps"


def sources(stage) -> list[tuple[list, str]]:
    return [stage.data.all_sources()]


def preflight(name: str, stage, earlier: list) -> None:
    from ..train.loss import check_loss_kernel
    from ..train.sequence_parallel import check_launch
    from ..train.tiled_mlp import check_available

    check_launch(stage.train.sequence_parallel, stage.train.deepspeed, f"stage {name}")
    check_loss_kernel(stage.train.loss_kernel)
    check_available(stage.train.tiled_mlp)


def run(stage, stage_dir: Path, fingerprint: str, initial_dir: Path | None) -> dict:
    """Every rank trains; the main process builds caches first and writes the checkpoint."""
    from transformers import set_seed

    from ..methods.registry import position_length, use_attention
    from ..data.prepare import prepare_packed
    from ..distributed import process_state
    from ..export import save_initial
    from ..methods.engine_notes import export_for_serving
    from ..outputs import raise_if_disk_full
    from ..adapters.lora import apply_adapter, quantization_config
    from ..models import load_model, load_tokenizer, model_dtype
    from ..train.sequence_parallel import check_heads
    from ..train.trainer import train_stage

    state = process_state()
    stage_dir.mkdir(parents=True, exist_ok=True)
    with state.main_process_first():  # the main process builds caches (tokenizer, base, packs) first
        tokenizer = load_tokenizer(stage.model)
    set_seed(stage.train.seed)  # a scratch init is part of what the seed reproduces
    model = load_model(
        stage.model,
        stage.position,
        position_length(stage.attention, stage.data.seq_len),
        tokenizer,
        model_dtype(stage.train.precision),
        quantization_config(stage.adapter),
    )
    check_heads(stage.train.sequence_parallel, model.config)
    if stage.train.tiled_mlp:
        from ..train.tiled_mlp import slice_count, tile_mlps

        tiled = tile_mlps(model)
        tokens = stage.data.seq_len // stage.train.sequence_parallel  # what a rank holds
        if state.is_main_process:
            print(f"[train] tiled MLP in {tiled} layers: {slice_count(tokens, model.config.hidden_size)} slices "
                  f"of the {tokens} tokens a rank holds", flush=True)
    with state.main_process_first():
        packed, stats, _ = prepare_packed(stage.data, tokenizer)
    if state.is_main_process:
        save_initial(model, tokenizer, stage, initial_dir)
    from ..positions.rope import original_window

    window = original_window(model.config, stage.position)
    model = apply_adapter(use_attention(model, stage.attention, window, tokenizer), stage.adapter)
    try:
        summary, state_dict = train_stage(model, tokenizer, packed, stage, stage_dir)
    except (OSError, RuntimeError) as exc:  # a checkpoint save onto a full disk
        raise_if_disk_full(exc, stage_dir / "checkpoints")
        raise
    summary["pack_fill_rate"] = stats.fill_rate
    marker = {"fingerprint": fingerprint, "recipe": stage.to_dict(), "summary": summary}
    if state.is_main_process:
        extra = {STAGE_MARKER: json.dumps(marker, indent=2, default=str)}
        export_for_serving(model, tokenizer, stage_dir / "final", extra, state_dict=state_dict, label="train")
    state.wait_for_everyone()
    return summary
