"""position: the position method (a rope_parameters rewrite) and the position scheme the collator writes.

The names are checked against their registries by `longft.validation`, above the layers that define them."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import RecipeError


@dataclass
class PositionConfig:
    method: str = "none"  # a name in positions.methods.POSITION_METHODS
    factor: float | None = None
    # The window the model was pretrained with. Read from the model config when left empty.
    original_max_position_embeddings: int | None = None
    rope_theta: float | None = None  # new base for method=rope_theta
    params: dict = field(default_factory=dict)  # extra rope_parameters (beta_fast, low_freq_factor, ...)
    # What the collator writes as position ids (positions.schemes.POSITION_SCHEMES): document | pose |
    # randomized | shifted, with the scheme's own settings and the range its positions cover
    # (empty: original window x factor where both are known, else the training length)
    scheme: str = "document"
    scheme_params: dict = field(default_factory=dict)
    scheme_length: int | None = None

    def covered_length(self, seq_len: int) -> int:
        if self.scheme_length:
            return self.scheme_length
        if self.original_max_position_embeddings and self.factor:
            return int(self.original_max_position_embeddings * self.factor)
        return seq_len

    def validate(self) -> None:
        if self.original_max_position_embeddings is not None and self.original_max_position_embeddings < 1:
            raise RecipeError(
                f"position.original_max_position_embeddings = {self.original_max_position_embeddings}: must be >= 1"
            )
