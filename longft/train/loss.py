"""Causal-LM loss without the full logits: the cross-entropy of the scored tokens, computed a
chunk of tokens at a time from the last hidden state and the output head.

At 128k tokens and a 128k vocabulary the logits alone are ~34 GB in bf16 (twice that in the
float32 the loss is taken in), more than the rest of a training step. Here the model runs with
`logits_to_keep=1` and `output_hidden_states=True` (transformers' own switches: only the last
position's logits, and the final-norm hidden states), and the loss walks the tokens that carry a
label in chunks; each chunk's logits are recomputed in the backward pass (activation
checkpointing), so at most one chunk of logits exists at a time. The value is transformers'
ForCausalLMLoss: labels shifted left, float32, summed and divided by `num_items_in_batch`
(the tokens of the whole accumulated batch) when the Trainer gives it, else averaged.

`train.loss_kernel: liger` takes the same sum with Liger's fused linear cross-entropy (Triton, GPU
only; `pip install 'longft[liger]'`), which fuses the head, the softmax and the gradient per chunk
in one kernel; longft's chunks are its CPU twin, compared with it where both run.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..errors import RecipeError
from ..families.family import text_config
from ..families.logits import logit_transform, output_head

IGNORE = -100


def shift_left(labels: torch.Tensor) -> torch.Tensor:
    """Position i's target is token i + 1; the last position has none."""
    return F.pad(labels, (0, 1), value=IGNORE)[..., 1:]


def check_loss_kernel(kernel: str) -> None:
    """Before any work: Liger's kernel needs its package and a CUDA GPU."""
    if kernel != "liger":
        return
    import importlib.util

    if importlib.util.find_spec("liger_kernel") is None:
        raise RecipeError("train.loss_kernel = 'liger' needs Liger's kernels: pip install 'longft[liger]' "
                          "(or train.loss_kernel: chunked, the same loss on any device)")
    if not torch.cuda.is_available():
        raise RecipeError("train.loss_kernel = 'liger' runs on a CUDA GPU (Triton); on the CPU use train.loss_kernel: chunked")


def liger_sum(states: torch.Tensor, targets: torch.Tensor, head) -> torch.Tensor:
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

    fused = LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE, reduction="sum")
    return fused(head.weight, states.contiguous(), targets, getattr(head, "bias", None)).float()


def summed_cross_entropy(hidden: torch.Tensor, targets: torch.Tensor, head, chunk_tokens: int,
                         kernel: str = "chunked") -> tuple[torch.Tensor, int]:
    """(sum of the cross-entropy over the positions with a target, how many there are); `targets`
    are aligned with `hidden` (already shifted)."""
    targets = targets.reshape(-1)
    scored = (targets != IGNORE).nonzero().squeeze(1)
    states = hidden.reshape(-1, hidden.size(-1)).index_select(0, scored)
    targets = targets.index_select(0, scored)
    if len(targets) == 0:  # nothing scored: a zero that still reaches every parameter
        return hidden.sum() * 0.0, 0
    if kernel == "liger":
        return liger_sum(states, targets, head), len(targets)

    def chunk_loss(h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(head(h).float(), t, reduction="sum")

    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for start in range(0, len(targets), chunk_tokens):
        end = start + chunk_tokens
        total = total + checkpoint(chunk_loss, states[start:end], targets[start:end], use_reentrant=False)
    return total, len(targets)


def chunked_cross_entropy(hidden: torch.Tensor, labels: torch.Tensor, head, chunk_tokens: int,
                          num_items_in_batch=None, kernel: str = "chunked") -> torch.Tensor:
    total, count = summed_cross_entropy(hidden, shift_left(labels), head, chunk_tokens, kernel)
    if count == 0:
        return total
    if num_items_in_batch is None:
        return total / count
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


class ChunkedCausalLMLoss:
    """transformers Trainer's `compute_loss_func`; `model_inputs` go into every training batch."""

    model_inputs = {"logits_to_keep": 1, "output_hidden_states": True}

    def __init__(self, model, chunk_tokens: int, kernel: str = "chunked"):
        check_supported(model.config, kernel)
        self.head = output_head(model)
        self.chunk_tokens = chunk_tokens
        self.kernel = kernel

    def __call__(self, outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        return chunked_cross_entropy(outputs.hidden_states[-1], labels, self.head, self.chunk_tokens, num_items_in_batch,
                                     self.kernel)


def kernel_refusal(config, kernel: str = "chunked") -> str | None:
    """Liger's fused kernel takes the output layer's weight alone: a family that transforms its logits
    after it is refused there (longft's own chunks apply the transform)."""
    if kernel == "liger" and logit_transform(config) is not None:
        return ("it transforms its logits after the output head, which Liger's fused kernel leaves out; "
                "use train.loss_kernel: chunked")
    return None


def check_supported(config, kernel: str = "chunked") -> None:
    why = kernel_refusal(config, kernel)
    if why:
        raise RecipeError(f"train.loss_kernel = {kernel!r}: model type {text_config(config).model_type!r} cannot take it: {why}")
