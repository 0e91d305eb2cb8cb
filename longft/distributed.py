"""The process view shared with the Trainer (accelerate's PartialState is a singleton: the first
caller's settings win, so longft asks for it exactly as TrainingArguments(use_cpu=...) will)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def process_state():
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def sharded_training(deepspeed_config: str | None) -> str | None:
    """How this launch shards the weights (DeepSpeed ZeRO-3 or FSDP), read from what `accelerate
    launch` exports and from the recipe's DeepSpeed file; None when every rank holds the whole model."""
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "FSDP (ACCELERATE_USE_FSDP)"
    if os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3":
        return "DeepSpeed ZeRO-3 (ACCELERATE_DEEPSPEED_ZERO_STAGE)"
    if deepspeed_config and Path(deepspeed_config).is_file():
        stage = json.loads(Path(deepspeed_config).read_text()).get("zero_optimization", {}).get("stage")
        if stage == 3:
            return f"DeepSpeed ZeRO-3 ({deepspeed_config})"
    return None
