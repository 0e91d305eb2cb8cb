"""Train one stage with transformers' Trainer: packing-aware loss, resume, throughput."""
from __future__ import annotations

import json
from pathlib import Path

import datasets
import torch
from transformers import Trainer, TrainingArguments

from ..config import Recipe
from ..data.collator import PackedCollator
from ..models import model_dtype
from .callbacks import ThroughputCallback


def training_arguments(recipe: Recipe, checkpoint_dir: Path) -> TrainingArguments:
    t = recipe.train
    bf16 = model_dtype(t.precision) == torch.bfloat16
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_steps,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        adam_beta2=t.adam_beta2,
        bf16=bf16,
        activation_checkpointing=t.gradient_checkpointing,
        logging_steps=t.logging_steps,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        report_to=[r for r in t.report_to if r != "none"] or "none",
        seed=t.seed,
        data_seed=t.seed,
        deepspeed=t.deepspeed,
        torch_compile=t.torch_compile,
        remove_unused_columns=False,  # the collator needs doc_lens
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        # Loss is a sum over tokens divided by the tokens in the whole accumulated batch
        # (transformers' num_items_in_batch), so packing and accumulation weigh every token alike.
        average_tokens_across_devices=True,
        disable_tqdm=False,
    )


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    found = sorted(checkpoint_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(found[-1]) if found else None


def train_stage(model, tokenizer, packed: datasets.Dataset, recipe: Recipe, stage_dir: Path, callbacks=()):
    """Run (or resume) training; returns (summary with throughput and final loss, full state dict
    gathered from DeepSpeed ZeRO-3 / FSDP shards, or None where every rank holds the whole model)."""
    checkpoint_dir = stage_dir / "checkpoints"
    args = training_arguments(recipe, checkpoint_dir)
    n_params = sum(p.numel() for p in model.parameters())
    cfg = model.config
    throughput = ThroughputCallback(
        tokens_per_step=recipe.data.seq_len * recipe.train.batch_size * recipe.train.grad_accum * args.world_size,
        n_params=n_params,
        n_layers=cfg.num_hidden_layers,
        hidden=cfg.hidden_size,
        seq_len=recipe.data.seq_len,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=packed,
        data_collator=PackedCollator(recipe.data.seq_len, tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[throughput, *callbacks],
    )
    resume = last_checkpoint(checkpoint_dir)
    if resume:
        print(f"[train] resuming from {resume}", flush=True)
    result = trainer.train(resume_from_checkpoint=resume)
    summary = {
        "train_loss": result.training_loss,
        "steps": trainer.state.global_step,
        "world_size": args.world_size,
        **throughput.summary(),
    }
    sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
    state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped) if sharded else None  # a collective
    if trainer.is_world_process_zero():
        (stage_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return summary, state_dict
