"""Sequence parallelism on DeepSpeed Ulysses (Arctic Long Sequence Training), through accelerate.

With degree P, each rank of a sequence-parallel group holds seq_len / P tokens of one sample.
Around attention, DeepSpeed's `UlyssesSPAttentionHF` all-to-alls them into the whole sequence for
H / P of the heads, calls the attention function the model was switched to, and scatters back;
the Trainer shards batches and weighs the per-rank losses (accelerate `ParallelismConfig`,
`sp_backend="deepspeed"`). What longft adds to that:
- the attention called is longft's own registered function (documents kept apart, S²-Attn), named
  in accelerate's sequence-parallel handler (whose validator knows only transformers' built-ins);
- the document boundaries travel as lists (collator), which the sharding hands every rank whole,
  because DeepSpeed's wrapper drops the attention mask and the attention needs whole documents;
- S²-Attn applies its head rule to global head indices (attention/heads.py).
"""
from __future__ import annotations

import importlib.util
import os

from ..errors import RecipeError


def deepspeed_configured(deepspeed_config: str | None) -> bool:
    return bool(deepspeed_config) or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"


def check_launch(degree: int, deepspeed_config: str | None, where: str) -> None:
    """Before any work: DeepSpeed present and configured, the launch's ranks split into groups."""
    if degree == 1:
        return
    if importlib.util.find_spec("deepspeed") is None:
        raise RecipeError(f"{where}: train.sequence_parallel = {degree} runs on DeepSpeed Ulysses, which is not installed; "
                          "pip install 'longft[deepspeed]'")
    if not deepspeed_configured(deepspeed_config):
        raise RecipeError(
            f"{where}: train.sequence_parallel = {degree} runs on DeepSpeed: launch with a DeepSpeed accelerate config "
            "(accelerate_configs/deepspeed_zero*.yaml) or set train.deepspeed (e.g. accelerate_configs/deepspeed_zero1.json)"
        )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world % degree:
        raise RecipeError(
            f"{where}: train.sequence_parallel = {degree} needs a launch of a multiple of {degree} processes; this one has "
            f"{world} (accelerate launch --num_processes {degree * max(1, world // degree)} ...)"
        )


def check_heads(degree: int, config) -> None:
    """A model config's head counts against the degree (`check_head_counts`)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    check_head_counts(degree, text.num_attention_heads, getattr(text, "num_key_value_heads", None) or text.num_attention_heads)


def check_head_counts(degree: int, heads: int, kv: int) -> None:
    """DeepSpeed's rule: query heads split evenly; key/value heads split evenly, or (fewer KV heads
    than ranks) each KV head is replicated to the ranks whose query heads read it."""
    if degree == 1:
        return
    if heads % degree:
        raise RecipeError(
            f"train.sequence_parallel = {degree}: the model's {heads} attention heads do not split over {degree} ranks; "
            f"valid degrees divide {heads}: {', '.join(str(d) for d in range(1, heads + 1) if heads % d == 0)}"
        )
    if kv % degree and degree % kv:
        raise RecipeError(
            f"train.sequence_parallel = {degree}: the model's {kv} key/value heads neither split over {degree} ranks "
            f"nor replicate evenly to them; use a degree that divides {kv} or a multiple of {kv}"
        )


def parallelism_config(degree: int, attn_implementation: str):
    """accelerate's ParallelismConfig for Ulysses, calling the model's own attention function."""
    if degree == 1:
        return None
    from accelerate.parallelism_config import ParallelismConfig
    from accelerate.utils import DeepSpeedSequenceParallelConfig

    handler = DeepSpeedSequenceParallelConfig(sp_seq_length_is_variable=True)
    # set after construction: the handler's validator lists transformers' built-in names only, while
    # DeepSpeed wraps any function registered with transformers' AttentionInterface
    handler.sp_attn_implementation = attn_implementation
    # accelerate sizes DeepSpeed's global batch by the groups' count (it does not infer it for the
    # DeepSpeed backend), and DeepSpeed refuses a batch that does not match its own count
    return ParallelismConfig(sp_size=degree, sp_backend="deepspeed", sp_handler=handler,
                             dp_replicate_size=data_parallel_size(degree))


def data_parallel_size(degree: int) -> int:
    """How many sequence-parallel groups the launch holds."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")) // degree)


def init_deepspeed_comm() -> None:
    """DeepSpeed's communication layer over the process group the launch set up (accelerate starts
    it for DeepSpeed on GPUs; a CPU launch over gloo needs it started here)."""
    import deepspeed
    import torch

    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")


def sequence_parallel_group():
    from deepspeed.runtime.sequence_parallel import parallel_state_sp

    return parallel_state_sp.get_sequence_parallel_group()


def shard_loss(hidden, shift_labels, head, chunk_tokens: int | None, group, kernel: str = "chunked",
               divisor=None):
    """This rank's share of the loss, with gradient through this rank's tokens only.

    Gradient: the sum of the cross-entropy over this rank's tokens / `divisor`, so the ranks'
    gradients add up to the gradient of the loss the whole group's tokens give, which is what
    DeepSpeed's reduction (a sum over the group, divided by the data-parallel size only) expects.
    Value: that sum over the group (the same on every rank). `divisor` defaults to the sample's
    scored tokens (all ranks of the group), which makes the value the sample's mean cross-entropy;
    the trainer passes the accumulated batch's instead (`accumulated_divisor`). transformers' own SP
    loss back-propagates the all-gathered loss on every rank, which scales the gradients by the
    degree: invisible to Adam, not to gradient clipping."""
    import torch
    import torch.distributed as dist

    from .loss import summed_cross_entropy

    chunk = chunk_tokens or shift_labels.numel()
    local_sum, local_count = summed_cross_entropy(hidden, shift_labels, head, chunk, kernel)
    if divisor is None:
        count = torch.tensor([float(local_count)], device=hidden.device)
        dist.all_reduce(count, group=group)
        divisor = count.clamp(min=1)[0]
    share = local_sum / divisor
    whole = share.detach().clone()
    dist.all_reduce(whole, group=group)
    return share + (whole - share.detach())


def accumulated_divisor(batches, degree: int, device):
    """What each sample's loss is divided by so that an optimizer step weighs every scored token of
    its accumulated batch alike, as without SP (transformers' `num_items_in_batch`): the scored
    tokens of all micro-batches on all ranks, over the data-parallel size (DeepSpeed divides the
    summed gradients by it, and the Trainer no longer divides by the accumulation steps)."""
    import torch
    import torch.distributed as dist

    local = sum(int((b["shift_labels"] != -100).sum()) for b in batches)
    total = torch.tensor([float(local)], device=device)
    dist.all_reduce(total)
    return total.clamp(min=1)[0] / data_parallel_size(degree)


def sequence_parallel_trainer(degree: int, chunk_tokens: int | None, kernel: str = "chunked", base=None):
    """A Trainer (subclass of `base`) whose training loss under SP is `shard_loss` (chunked when
    `chunk_tokens` is set) over the tokens of the whole accumulated batch; the model runs with
    transformers' switches for the last hidden state instead of full logits."""
    from transformers import Trainer

    from .loss import output_head

    class SequenceParallelTrainer(base or Trainer):
        loss_is_scaled_for_ga = True  # divided by the accumulated batch's tokens, not per micro-batch

        def get_batch_samples(self, epoch_iterator, num_batches, device):
            batches, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
            return batches, accumulated_divisor(batches, degree, device)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not (model.training and "shift_labels" in inputs):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            inputs = dict(inputs)
            shift_labels = inputs.pop("shift_labels")
            inputs.pop("labels", None)
            outputs = model(**inputs)
            head = output_head(self.accelerator.unwrap_model(model))
            loss = shard_loss(outputs.hidden_states[-1], shift_labels, head, chunk_tokens, sequence_parallel_group(), kernel,
                              divisor=num_items_in_batch)
            return (loss, outputs) if return_outputs else loss

    return SequenceParallelTrainer


MODEL_INPUTS = {"logits_to_keep": 1, "output_hidden_states": True}  # the last hidden state, no full logits
