"""Throughput (tokens/s), on a GPU model FLOPs utilization, and whole-stage accounting.

The stage summary covers every step of the stage, also across a resume: the losses come
from the Trainer's log history (saved in each checkpoint), and the training seconds are
carried in that history too. A log is forced on every save and on the last step, so each
checkpoint's history covers exactly the steps before it.
"""
from __future__ import annotations

import time

import torch
from transformers import TrainerCallback

# Dense bf16 peak per device, for MFU. Unknown devices report tokens/s only.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "4090": 165e12}


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def stage_loss(log_history: list[dict]) -> float | None:
    """Mean loss over every step logged: each logged loss is the mean since the previous log."""
    total, steps, last = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry:
            n = entry["step"] - last
            total += entry["loss"] * n
            steps += n
            last = entry["step"]
    return total / steps if steps else None


class ThroughputCallback(TrainerCallback):
    def __init__(self, tokens_per_step: int, n_params: int, n_layers: int, hidden: int, seq_len: int):
        self.tokens_per_step = tokens_per_step
        # 6N per token for the weights plus the attention score/value matmuls (causal: half of 12*L*h*s).
        self.flops_per_token = 6 * n_params + 6 * n_layers * hidden * seq_len
        self.peak = peak_flops()
        self.durations: list[float] = []  # seconds of each step run in this process
        self.seconds_before = 0.0  # training seconds of the steps before a resume
        self.resumed_from = 0
        self._t0 = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.resumed_from = state.global_step
        timed = [e["train_seconds"] for e in state.log_history if "train_seconds" in e]
        self.seconds_before = timed[-1] if timed else 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t0 is not None:
            self.durations.append(time.perf_counter() - self._t0)
        if control.should_save or state.global_step >= state.max_steps:
            control.should_log = True  # the saved history then covers every step before the save

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or not self.durations or "loss" not in logs:
            return
        recent = self.durations[-args.logging_steps :]
        logs["tokens_per_s"] = round(self.tokens_per_step * len(recent) / sum(recent), 1)
        logs["train_seconds"] = round(self.seconds_before + sum(self.durations), 3)
        if self.peak:
            logs["mfu"] = round(logs["tokens_per_s"] * self.flops_per_token / (self.peak * args.world_size), 4)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            # the Trainer appended a copy of `logs` before calling back: keep these in the saved history
            state.log_history[-1].update({k: logs[k] for k in ("tokens_per_s", "train_seconds", "mfu") if k in logs})

    def summary(self, state, world_size: int = 1) -> dict:
        """The whole stage: every step since step 0, including those run before a resume."""
        seconds = self.seconds_before + sum(self.durations)
        out = {"train_loss": stage_loss(state.log_history), "steps": state.global_step}
        if self.resumed_from:
            out["resumed_from_step"] = self.resumed_from
        if seconds > 0 and state.global_step:
            out["tokens_per_s"] = self.tokens_per_step * state.global_step / seconds
            out["train_seconds"] = seconds
            if self.peak:
                out["mfu"] = out["tokens_per_s"] * self.flops_per_token / (self.peak * world_size)
        return out


class CollatorProgressCallback(TrainerCallback):
    """A resumed run's collator continues where the interrupted one was (schemes that progress
    batch by batch, such as shifted positions, read its batch count)."""

    def __init__(self, collator, micro_batches_per_step: int):
        self.collator = collator
        self.per_step = micro_batches_per_step

    def on_train_begin(self, args, state, control, **kwargs):
        self.collator.step = state.global_step * self.per_step
