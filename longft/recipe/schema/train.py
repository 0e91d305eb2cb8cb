"""train: the Trainer's settings, and longft's memory savers at long length."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import RecipeError
from .checks import check_choice, check_number_in, check_positive, check_seed

PRECISIONS = ("auto", "auto-mixed", "bf16", "bf16-mixed", "fp32")
LOSS_KERNELS = ("chunked", "liger")  # train.loss_kernel: longft's chunks, Liger's fused kernel


@dataclass
class TrainConfig:
    max_steps: int = 100
    learning_rate: float = 2e-5
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 0
    # warmup_stable_decay: the lr stays at its peak until the last `decay_steps`, then falls to 0
    # (a cosine); for training whose skills form late, after a plateau a decaying lr would cut short
    decay_steps: int = 0
    batch_size: int = 1  # sequences per device per micro-step
    grad_accum: int = 1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_beta2: float = 0.95
    gradient_checkpointing: bool = False
    # auto: bf16 where the device supports it, fp32 otherwise; bf16: bf16 weights and compute;
    # bf16-mixed: fp32 weights and optimizer, bf16 compute (autocast); on a CPU with native bf16
    # (avx512_bf16) it trains the testbed base in half fp32's time, on one without (AVX2) many times
    # slower than fp32; auto-mixed: bf16-mixed where bf16 is native, fp32 elsewhere (longft.precision)
    precision: str = "auto"
    seed: int = 0
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 10
    report_to: list = field(default_factory=lambda: ["none"])
    deepspeed: str | None = None  # path to a DeepSpeed JSON config (or use accelerate_configs/)
    torch_compile: bool = False
    # Cross-entropy from the hidden states this many scored tokens at a time, so the full logits
    # (sequence x vocabulary) never exist; null: transformers' own loss over the full logits.
    loss_chunk_tokens: int | None = None
    # how that loss is computed: longft's chunks (any device) or Liger's fused kernel (CUDA, Triton)
    loss_kernel: str = "chunked"
    # Sequence-parallel degree (DeepSpeed Ulysses): each sample's tokens are split over this many
    # ranks, which all-to-all into whole sequences for 1/degree of the heads around attention.
    sequence_parallel: int = 1
    # what the forward pass saves for the backward pass (with gradient_checkpointing: each layer's
    # input) is kept in host memory, ALST's activation-checkpoint offload
    offload_activations: bool = False
    # each decoder layer's MLP runs ceil(tokens / hidden) slices of the tokens at a time, recomputed
    # slice by slice in the backward pass (ALST's tiled MLP, DeepSpeed's TiledMLP)
    tiled_mlp: bool = False

    def validate(self) -> None:
        check_positive("train.max_steps", self.max_steps)
        check_positive("train.batch_size", self.batch_size)
        check_positive("train.grad_accum", self.grad_accum)
        check_positive("train.save_steps", self.save_steps)
        check_positive("train.save_total_limit", self.save_total_limit)
        check_positive("train.logging_steps", self.logging_steps)
        check_positive("train.sequence_parallel", self.sequence_parallel)
        check_seed("train.seed", self.seed)
        check_number_in("train.weight_decay", self.weight_decay, 0, None)
        check_number_in("train.max_grad_norm", self.max_grad_norm, 0, None)  # 0 turns clipping off
        check_number_in("train.adam_beta2", self.adam_beta2, 0, 1, high_open=True)
        if not (0 < self.learning_rate < 1):
            raise RecipeError(f"train.learning_rate = {self.learning_rate}: must be in (0, 1)")
        if self.warmup_steps < 0:
            raise RecipeError(f"train.warmup_steps = {self.warmup_steps}: must be >= 0")
        check_choice("train.precision", self.precision, PRECISIONS)
        if self.loss_chunk_tokens is not None:
            check_positive("train.loss_chunk_tokens", self.loss_chunk_tokens)
        check_choice("train.loss_kernel", self.loss_kernel, LOSS_KERNELS)
        if self.loss_kernel == "liger" and self.loss_chunk_tokens is None:
            raise RecipeError("train.loss_kernel = 'liger' computes the loss from the hidden states: "
                              "set train.loss_chunk_tokens too (Liger picks its own chunk size)")
        valid_schedulers = ("constant", "constant_with_warmup", "linear", "cosine", "warmup_stable_decay")
        check_choice("train.lr_scheduler", self.lr_scheduler, valid_schedulers)
        if self.lr_scheduler == "warmup_stable_decay":
            if not (0 < self.decay_steps <= self.max_steps - self.warmup_steps):
                raise RecipeError(
                    f"train.decay_steps = {self.decay_steps}: warmup_stable_decay needs 0 < decay_steps <= "
                    f"max_steps - warmup_steps ({self.max_steps} - {self.warmup_steps})"
                )
        elif self.decay_steps:
            raise RecipeError(
                f"train.decay_steps = {self.decay_steps} is read only by lr_scheduler 'warmup_stable_decay', "
                f"not by {self.lr_scheduler!r}; drop it or switch the scheduler"
            )
