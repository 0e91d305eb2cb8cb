"""adapter: LoRA (peft) and what trains in full beside it."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import RecipeError
from .checks import check_choice, check_number_in, check_positive


@dataclass
class AdapterConfig:
    method: str = "none"  # none | lora
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    # the modules LoRA adapts; null = the model family's attention projections (families/table.py:
    # q/k/v/o_proj for Llama-like families, qkv_proj + o_proj for Phi-3, query_key_value + dense for GPT-NeoX)
    target_modules: list | None = None
    # Trained in full beside the adapters (LongLoRA's "LoRA+"): embed, norm, lm_head
    trainable_params: list = field(default_factory=lambda: ["embed", "norm"])
    quantize: str = "none"  # none | 4bit (QLoRA, needs bitsandbytes)

    def validate(self) -> None:
        check_choice("adapter.method", self.method, ("none", "lora"))
        check_choice("adapter.quantize", self.quantize, ("none", "4bit"))
        check_positive("adapter.r", self.r)
        check_number_in("adapter.alpha", self.alpha, 0, None, low_open=True)
        check_number_in("adapter.dropout", self.dropout, 0, 1, high_open=True)
        for name in self.trainable_params:
            check_choice("adapter.trainable_params[]", name, ("embed", "norm", "lm_head"))
        if self.quantize != "none" and self.method != "lora":
            raise RecipeError("adapter.quantize = '4bit' trains adapters on frozen 4-bit weights: set adapter.method: lora")
