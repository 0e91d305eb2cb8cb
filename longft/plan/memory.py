"""Per-GPU memory of one training step, term by term.

Weights, gradients and optimizer state follow the ZeRO paper's accounting for mixed-precision Adam
(Rajbhandari et al. 2020): 2 bytes of bf16 weights and 2 of gradients per parameter, 12 of fp32
master weights, momentum and variance per trained parameter (fp32 and bf16-mixed training, whose
weights stay in fp32: 4, 4 and 8; bf16-mixed keeps its activations in bf16), divided
over all ranks by stage: ZeRO-1 the optimizer state, ZeRO-2 also the gradients, ZeRO-3 also the
weights. Activations are counted from what a Llama decoder layer keeps for its backward pass, per
token: the two norms' inputs, normalized inputs and outputs; q, the repeated k and v, the attention
output and its copy for the output projection; the MLP's gate, up, activation and product (11 x
hidden + 4 x intermediate values). Without activation checkpointing every layer keeps them; with
it, every layer's input, and a layer's backward pass recomputes one layer's. A layer's backward
also holds the gradients of its MLP's intermediates (3 x intermediate). At its peak the loss holds
the log-softmax, its gradient and the logits' gradient in fp32 (3 x tokens x vocab x 4 bytes, plus
the bf16 logits), or one chunk of them with `train.loss_chunk_tokens`. A rank holds seq_len / SP
tokens. With `train.offload_activations` the stored activations are in host memory and only a
layer's come back to the GPU. With `train.tiled_mlp` the MLP's intermediates and their gradients
exist for one slice of ceil(tokens / hidden) at a time, recomputed in the backward pass. Checked
against measured peaks on the CPU (benchmarks/plan_accuracy.py); the bf16 and multi-GPU terms are
the accounting above, not measured here.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..families.table import ATTENTION
from ..train.tiled_mlp import slice_count
from .architecture import Architecture

GIB = 2**30
RUNTIME_RESERVE_GIB = 2.0  # CUDA context, NCCL buffers and allocator slack on a GPU (an assumption)
# a setup fits when its estimate raised by 10% (above the largest under-estimate measured by
# benchmarks/plan_accuracy.py and sp_memory.py, 6%), plus the reserve, is within the GPU's memory
MARGIN = 0.10


@dataclass(frozen=True)
class Setup:
    gpus: int
    sp: int = 1
    zero: int = 0  # DeepSpeed ZeRO stage 0-3 (FSDP full sharding is ZeRO-3's column)
    offload: bool = False  # optimizer state in CPU memory (ZeRO-Offload)


def layer_parameters(arch: Architecture) -> dict[str, tuple[int, int]]:
    """(in, out) features of a decoder layer's attention projections and dense MLP (a mixture of
    experts' MLP is `expert_parameters`)."""
    h, i, kvd, qd = arch.hidden, arch.intermediate, arch.kv_heads * arch.head_dim, arch.heads * arch.head_dim
    attention = {"q_proj": (h, qd), "k_proj": (h, kvd), "v_proj": (h, kvd), "o_proj": (qd, h)}
    if arch.experts:
        return attention
    return {**attention, "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


def expert_parameters(arch: Architecture, routed: int) -> int:
    """A layer's MLP weights with `routed` experts (gate, up, down each), its router and shared expert."""
    if not arch.experts:
        return 0
    h = arch.hidden
    return routed * 3 * h * arch.expert_intermediate + h * arch.experts + 3 * h * arch.shared_intermediate


def active_parameter_count(arch: Architecture) -> int:
    """The weights one token runs through: a mixture of experts' routed experts only."""
    held = parameter_counts(arch, None)[0]
    return held - arch.layers * (expert_parameters(arch, arch.experts) - expert_parameters(arch, arch.experts_per_token))


def parameter_counts(arch: Architecture, adapter) -> tuple[int, int]:
    """(parameters held, parameters trained); every expert of a mixture is held."""
    h, V, L = arch.hidden, arch.vocab, arch.layers
    layer = sum(a * b for a, b in layer_parameters(arch).values()) + 2 * h + expert_parameters(arch, arch.experts)
    base = V * h + L * layer + h + (0 if arch.tied else V * h)
    if adapter is None or adapter.method == "none":
        return base, base
    shapes = layer_parameters(arch)
    targets = adapter.target_modules or ATTENTION  # null: the Llama-like families' attention projections
    unknown = [m for m in targets if m not in shapes]
    lora = L * sum(adapter.r * (a + b) for m, (a, b) in shapes.items() if m in targets)
    lora += L * sum(adapter.r * 2 * h for _ in unknown)  # a module the table does not know: counted as h x h
    saved_sizes = {"embed": V * h, "norm": L * 2 * h + h, "lm_head": V * h}
    saved = sum(saved_sizes[key] for key in adapter.trainable_params)  # peft keeps a trainable copy of each
    return base + lora + saved, lora + saved


def activation_values_per_token(arch: Architecture) -> int:
    return 11 * arch.hidden + 4 * arch.token_intermediate


def row_length(recipe) -> int:
    """Tokens a training row holds (data.seq_len plus what the attention method adds, landmarks)."""
    from ..methods.registry import row_tokens

    attention = getattr(recipe, "attention", None)
    return row_tokens(attention, recipe.data.seq_len) if attention is not None else recipe.data.seq_len


def estimate(arch: Architecture, recipe, setup: Setup) -> dict[str, float]:
    """Bytes per GPU by term. The peak (`peak_bytes`) is not their sum: the loss's peak comes before
    any gradient exists, a recomputed layer's activations after the loss's are freed."""
    t = recipe.train
    bf16 = t.precision in ("bf16", "auto")  # "auto" is bf16 on the GPUs this plans for
    wb, gb, ob = (2, 2, 12) if bf16 else (4, 4, 8)
    # autocast keeps activations and logits in bf16 (auto-mixed is bf16-mixed on the GPUs this plans for)
    bf16_compute = bf16 or t.precision in ("bf16-mixed", "auto-mixed")
    ab = 2 if bf16_compute else 4  # bytes per activation
    held, trained = parameter_counts(arch, recipe.adapter)
    n = setup.gpus
    row = row_length(recipe)
    tokens = row * t.batch_size // setup.sp
    h, V = arch.hidden, arch.vocab
    final_norm = 3 * h
    mlp_kept, mlp_gradients = 4 * arch.token_intermediate, 3 * arch.token_intermediate
    others = activation_values_per_token(arch) - mlp_kept
    # the MLP's intermediates exist for every token, or (tiled) for one slice of them at a time
    mlp_tokens = -(-tokens // slice_count(row // setup.sp, h)) if t.tiled_mlp else tokens
    kept_by_layer = tokens * others + (0 if t.tiled_mlp else tokens * mlp_kept)  # until the backward pass
    recomputed = tokens * others + mlp_tokens * mlp_kept  # a layer's forward run again for its backward
    if t.gradient_checkpointing:
        stored, layer_backward = tokens * (arch.layers * h + final_norm), recomputed + mlp_tokens * mlp_gradients
    else:
        layer_backward = mlp_tokens * (mlp_gradients + (mlp_kept if t.tiled_mlp else 0))
        stored = arch.layers * kept_by_layer + tokens * final_norm
    if t.offload_activations:  # saved tensors in host memory; a layer's come back for its backward pass
        stored, layer_backward = 0, recomputed + mlp_tokens * mlp_gradients
    if t.loss_chunk_tokens or setup.sp > 1:  # longft's chunked loss (under SP: per shard, one chunk by default)
        chunk = min(t.loss_chunk_tokens or tokens, tokens)
        logits = chunk * V * 12 + tokens * h * ab  # one chunk's fp32 logits, log-softmax, gradient; the states
    else:
        logits = tokens * V * (12 + (2 if bf16_compute else 0))  # + the model's bf16 logits beside the fp32 ones
    head_gradient = V * h * gb if trained and (recipe.adapter.method == "none" or "lm_head" in recipe.adapter.trainable_params) else 0
    return {
        "weights": held * wb / (n if setup.zero >= 3 else 1),
        "optimizer": 0.0 if setup.offload else trained * ob / (n if setup.zero >= 1 else 1),
        "gradients": trained * gb / (n if setup.zero >= 2 else 1),
        "activations": stored * ab,
        "layer_backward": layer_backward * ab,
        "logits": logits + head_gradient,
    }


def peak_bytes(terms: dict[str, float]) -> float:
    """Weights and optimizer state always; then the larger of the loss's moment (every stored
    activation and the loss's own peak) and the layers' (stored activations, one layer's backward,
    the gradients)."""
    at_loss = terms["activations"] + terms["logits"]
    in_layers = terms["activations"] + terms["layer_backward"] + terms["gradients"]
    return terms["weights"] + terms["optimizer"] + max(at_loss, in_layers)


def total_gib(terms: dict[str, float], reserve: bool = True) -> float:
    return peak_bytes(terms) / GIB + (RUNTIME_RESERVE_GIB if reserve else 0.0)


def fits(terms: dict[str, float], gpu_gib: float) -> bool:
    return peak_bytes(terms) / GIB * (1 + MARGIN) + RUNTIME_RESERVE_GIB <= gpu_gib
