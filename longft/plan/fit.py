"""Which sequence-parallel degrees and ZeRO stages fit a recipe on N GPUs of M GB, and the smallest."""
from __future__ import annotations

import textwrap

from ..errors import RecipeError
from ..train.sequence_parallel import check_head_counts
from .architecture import Architecture
from .memory import (GIB, MARGIN, RUNTIME_RESERVE_GIB, Setup, active_parameter_count, estimate, fits, parameter_counts,
                     row_length, total_gib)

TERMS = ("weights", "optimizer", "gradients", "activations", "layer_backward", "logits")


def valid_degrees(arch: Architecture, gpus: int, seq_len: int) -> list[int]:
    out = []
    for degree in range(1, gpus + 1):
        if gpus % degree or seq_len % degree:
            continue
        try:
            check_head_counts(degree, arch.heads, arch.kv_heads)
        except RecipeError:
            continue
        out.append(degree)
    return out


def plan(arch: Architecture, recipe, gpus: int, gpu_gib: float) -> tuple[list[tuple[Setup, dict]], Setup | None]:
    """Every (SP degree, ZeRO stage) with its terms, and the first that fits: the smallest degree,
    then the lowest stage (less communication)."""
    rows, chosen = [], None
    for degree in valid_degrees(arch, gpus, recipe.data.seq_len):
        for zero in (0, 1, 2, 3):
            setup = Setup(gpus=gpus, sp=degree, zero=zero)
            terms = estimate(arch, recipe, setup)
            rows.append((setup, terms))
            if chosen is None and fits(terms, gpu_gib):
                chosen = setup
    return rows, chosen


def format_plan(name: str, arch: Architecture, recipe, gpus: int, gpu_gib: float) -> str:
    rows, chosen = plan(arch, recipe, gpus, gpu_gib)
    held, trained = parameter_counts(arch, recipe.adapter)
    t = recipe.train
    lines = [
        f"[plan] {name}: {row_length(recipe)} tokens x {t.batch_size} per step and rank group, on {gpus} GPUs of {gpu_gib:g} GiB",
        f"[plan] model: {arch.layers} layers, hidden {arch.hidden}, {arch.heads} heads / {arch.kv_heads} KV, vocab {arch.vocab} "
        f"({held / 1e9:.2f}B parameters held, {trained / 1e6:.1f}M trained"
        + (f"; {arch.experts} experts a layer, {arch.experts_per_token} a token: "
           f"{active_parameter_count(arch) / 1e9:.2f}B active" if arch.experts else "") + f") from {arch.source}",
        f"[plan] activation checkpointing {'on' if t.gradient_checkpointing else 'off'}; loss "
        + (f"in chunks of {t.loss_chunk_tokens} tokens" if t.loss_chunk_tokens else "over the full logits (chunked per shard under SP)")
        + ("; MLP tiled" if t.tiled_mlp else "") + ("; activations offloaded" if t.offload_activations else ""),
        "",
        f"{'SP':>3} {'ZeRO':>4} " + " ".join(f"{term:>14}" for term in TERMS) + f" {'peak GiB':>10}  fits",
    ]
    for setup, terms in rows:
        total = total_gib(terms)
        mark = "yes <- smallest" if setup == chosen else ("yes" if fits(terms, gpu_gib) else "no")
        lines.append(f"{setup.sp:>3} {setup.zero:>4} " + " ".join(f"{terms[k] / GIB:>14.2f}" for k in TERMS)
                     + f" {total:>10.2f}  {mark}")
    lines.append("")
    lines.append(f"[plan] peak = weights + optimizer + the larger of (activations + logits) and (activations + layer_backward + "
                 f"gradients), plus {RUNTIME_RESERVE_GIB:g} GiB for the CUDA context and allocator (assumed); a setup fits when "
                 f"the peak raised by {MARGIN:.0%} (above the largest under-estimate measured, 6%) is within the GPU. Weights, gradients, "
                 "optimizer: ZeRO accounting of exact parameter counts; activations, layer_backward, logits: estimates, "
                 "checked against measured peaks on the CPU (benchmarks/plan_accuracy.py).")
    if chosen is None:
        lines.append(f"[plan] nothing fits {gpu_gib:g} GiB per GPU: use more GPUs, turn on train.gradient_checkpointing / "
                     "train.loss_chunk_tokens / train.tiled_mlp, or offload the optimizer (accelerate_configs/deepspeed_zero3_offload.yaml)")
    else:
        lines.append(f"[plan] smallest that fits: --train.sequence_parallel {chosen.sp} with ZeRO-{chosen.zero}"
                     f" ({total_gib(estimate(arch, recipe, chosen)):.1f} of {gpu_gib:g} GiB)")
    notes = (textwrap.wrap(line, 100, subsequent_indent="       ") if line.startswith("[plan]") else [line] for line in lines)
    return "\n".join(part for note in notes for part in note)
