"""The process view shared with the Trainer (accelerate's PartialState is a singleton: the first
caller's settings win, so longft asks for it exactly as TrainingArguments(use_cpu=...) will)."""
from __future__ import annotations

import torch


def process_state():
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
