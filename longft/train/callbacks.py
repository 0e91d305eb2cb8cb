"""Throughput (tokens/s) and, on a GPU, model FLOPs utilization."""
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


class ThroughputCallback(TrainerCallback):
    def __init__(self, tokens_per_step: int, n_params: int, n_layers: int, hidden: int, seq_len: int):
        self.tokens_per_step = tokens_per_step
        # 6N per token for the weights plus the attention score/value matmuls (causal: half of 12*L*h*s).
        self.flops_per_token = 6 * n_params + 6 * n_layers * hidden * seq_len
        self.peak = peak_flops()
        self.history: list[float] = []
        self._t0 = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t0 is not None:
            self.history.append(self.tokens_per_step / (time.perf_counter() - self._t0))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or not self.history:
            return
        recent = self.history[-args.logging_steps :]
        logs["tokens_per_s"] = round(sum(recent) / len(recent), 1)
        if self.peak:
            logs["mfu"] = round(logs["tokens_per_s"] * self.flops_per_token * args.world_size / self.peak, 4)

    def summary(self) -> dict:
        if not self.history:
            return {}
        steady = self.history[1:] or self.history  # the first step pays for warm-up
        out = {"tokens_per_s": sum(steady) / len(steady)}
        if self.peak:
            out["mfu"] = out["tokens_per_s"] * self.flops_per_token / self.peak
        return out
