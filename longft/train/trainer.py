"""Train one stage with transformers' Trainer: packing-aware loss, resume, throughput."""
from __future__ import annotations

from pathlib import Path

import datasets
import torch
from transformers import Trainer, TrainerState, TrainingArguments

from ..recipe.schema import Recipe
from ..recipe.shipped import find_deepspeed_config
from ..methods.registry import batch_rows
from ..data.collator import PackedCollator
from ..models import computes_in_bf16
from ..outputs import atomic_write_json
from .callbacks import CollatorProgressCallback, ThroughputCallback
from .checkpoints import checkpoint_step, resumable_checkpoint
from .finite_loss import finite_loss_trainer
from .loss import ChunkedCausalLMLoss, check_supported
from . import sequence_parallel
from .offload import offloading_trainer


def broadcast_choice(value):
    """The main process decides (it may remove an incomplete checkpoint); every rank takes its word."""
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def close_process_group() -> None:
    """At the end of a run that succeeded: wait for every rank, then tear the process group down while
    the interpreter is still whole. gloo's worker threads left to interpreter shutdown can abort a
    finished process (SIGABRT, "terminate called without an active exception")."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def training_arguments(recipe: Recipe, checkpoint_dir: Path, attn_implementation: str | None = None) -> TrainingArguments:
    t = recipe.train
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        lr_scheduler_kwargs={"num_decay_steps": t.decay_steps} if t.lr_scheduler == "warmup_stable_decay" else {},
        warmup_steps=t.warmup_steps,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        adam_beta2=t.adam_beta2,
        bf16=computes_in_bf16(t.precision),
        activation_checkpointing=t.gradient_checkpointing,
        logging_steps=t.logging_steps,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        report_to=[r for r in t.report_to if r != "none"] or "none",
        seed=t.seed,
        data_seed=t.seed,
        deepspeed=find_deepspeed_config(t.deepspeed) if t.deepspeed else None,
        parallelism_config=sequence_parallel.parallelism_config(t.sequence_parallel, attn_implementation),
        torch_compile=t.torch_compile,
        remove_unused_columns=False,  # the collator needs doc_lens
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        # Loss is a sum over tokens divided by the tokens in the whole accumulated batch
        # (transformers' num_items_in_batch), so packing and accumulation weigh every token alike.
        average_tokens_across_devices=True,
        disable_tqdm=False,
    )


def train_stage(model, tokenizer, packed: datasets.Dataset, recipe: Recipe, stage_dir: Path, callbacks=()):
    """Run (or resume) training; returns (summary with throughput and final loss, full state dict
    gathered from DeepSpeed ZeRO-3 / FSDP shards, or None where every rank holds the whole model)."""
    checkpoint_dir = stage_dir / "checkpoints"
    t = recipe.train
    sp = t.sequence_parallel
    if sp > 1:
        sequence_parallel.init_deepspeed_comm()
    args = training_arguments(recipe, checkpoint_dir, model.config._attn_implementation)
    n_params = sum(p.numel() for p in model.parameters())
    cfg = model.config
    throughput = ThroughputCallback(
        # a sequence-parallel group of sp ranks trains one sample at a time
        tokens_per_step=recipe.data.seq_len * t.batch_size * t.grad_accum * args.world_size // sp,
        n_params=n_params,
        n_layers=cfg.num_hidden_layers,
        hidden=cfg.hidden_size,
        seq_len=recipe.data.seq_len,
    )
    loss = ChunkedCausalLMLoss(model, t.loss_chunk_tokens, t.loss_kernel) if t.loss_chunk_tokens else None
    trainer_class, model_inputs = finite_loss_trainer(Trainer), loss.model_inputs if loss else None
    if t.offload_activations:
        trainer_class = offloading_trainer(trainer_class)
    if sp > 1:  # the loss is taken per shard of the sample (sequence_parallel.shard_loss), from the hidden states
        check_supported(model.config, t.loss_kernel)
        trainer_class = sequence_parallel.sequence_parallel_trainer(sp, t.loss_chunk_tokens, t.loss_kernel, trainer_class)
        model_inputs, loss = sequence_parallel.MODEL_INPUTS, None
    collator = PackedCollator(
        recipe.data.seq_len,
        tokenizer.pad_token_id,
        recipe.position.scheme,
        recipe.position.scheme_params,
        recipe.position.covered_length(recipe.data.seq_len),
        model_inputs=model_inputs,
        boundaries_as_lists=sp > 1,
        rows=batch_rows(recipe.attention, recipe.data.seq_len, tokenizer),
    )
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=packed,
        data_collator=collator,
        processing_class=tokenizer,
        compute_loss_func=loss,
        callbacks=[throughput, CollatorProgressCallback(collator, recipe.train.grad_accum), *callbacks],
    )
    resume = resumable_checkpoint(checkpoint_dir) if trainer.is_world_process_zero() else None
    resume = broadcast_choice(resume)
    if resume:
        print(f"[train] resuming from {resume}", flush=True)
    sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
    if resume and checkpoint_step(Path(resume)) >= recipe.train.max_steps and not sharded:
        # Trainer would run one step past max_steps when resumed at the end: load, do not train
        print(f"[train] {resume} is the last step; loading it without training", flush=True)
        trainer.state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        trainer._load_from_checkpoint(resume)
        throughput.on_train_begin(args, trainer.state, trainer.control)
    else:
        trainer.train(resume_from_checkpoint=resume)
    summary = {**throughput.summary(trainer.state, args.world_size), "world_size": args.world_size, "sequence_parallel": sp}
    state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped) if sharded else None  # a collective
    if trainer.is_world_process_zero():
        atomic_write_json(stage_dir / "train_summary.json", summary)
    return summary, state_dict
