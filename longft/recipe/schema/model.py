"""model: which model to start from and how it is built."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...families import FAMILIES
from .checks import check_choice


@dataclass
class ModelConfig:
    # "testbed" = the tiny Llama that longft pretrains itself; otherwise a local path or hub id.
    name_or_path: str = "testbed"
    tokenizer: str | None = None  # defaults to name_or_path; "testbed" = the testbed BPE tokenizer
    init: str = "pretrained"  # pretrained | scratch (scratch builds `arch` with random weights)
    arch: dict = field(default_factory=dict)  # LlamaConfig fields for init=scratch / smoke stand-ins
    attn_implementation: str = "sdpa"
    family: str = "llama"  # model type of the --smoke stand-in and of `init: scratch` (families/table.py)

    def validate(self) -> None:
        check_choice("model.init", self.init, ("pretrained", "scratch"))
        check_choice("model.family", self.family, tuple(FAMILIES))
        if "/" not in self.attn_implementation:  # a kernel from the Hub ("kernels-community/...") is checked on load
            from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

            check_choice("model.attn_implementation", self.attn_implementation,
                    ("eager", *(k for k in ALL_ATTENTION_FUNCTIONS.valid_keys() if "|" not in k)))
