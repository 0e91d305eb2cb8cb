"""attention: the training-time attention method and its kernel path.

The method's name and its own settings are checked by `longft.validation` against the registry."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import RecipeError
from .checks import check_positive


@dataclass
class AttentionConfig:
    """Training-time attention. Inference and export always use full attention."""

    method: str = "full"  # a name in methods.registry.ATTENTION_METHODS: full | s2 (LongLoRA) ...
    group_size_ratio: float = 0.25  # S²-Attn: G = seq_len * ratio
    group_size: int | None = None  # S²-Attn: a fixed G instead (SFT on lengths that are not a multiple)
    path: str = "auto"  # the kernel; each method lists its own (full: sdpa, dense, segments, eager, flex, flash)
    # Packed batches up to this length may use one dense (N x N) document mask where it costs less than
    # per-document SDPA (path: auto); longer ones a path whose memory is linear in N.
    dense_mask_max_tokens: int = 8192
    # settings of methods that take their own (logn: base; window: window; hybrid: window, full_layers, logn_base)
    params: dict = field(default_factory=dict)

    def validate(self) -> None:
        if not 0 < self.group_size_ratio <= 1:
            raise RecipeError(f"attention.group_size_ratio = {self.group_size_ratio}: must be in (0, 1]")
        check_positive("attention.dense_mask_max_tokens", self.dense_mask_max_tokens)
