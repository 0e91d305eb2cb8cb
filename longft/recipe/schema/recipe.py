"""The recipe: one section per concern, each checking its own fields' types and ranges.

Names that a registry defines (position methods and schemes, attention methods, sources, stage
kinds, RULER tasks) and each method's own checks are applied by `longft.validation`, which sits
above the layers that define them."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import RecipeError
from .adapter import AdapterConfig
from .attention import AttentionConfig
from .checks import check_name
from .data import DataConfig
from .eval import EvalConfig
from .model import ModelConfig
from .position import PositionConfig
from .search import SearchConfig, check_search_fits
from .train import TrainConfig


@dataclass
class Recipe:
    name: str = "unnamed"
    description: str = ""
    kind: str = "train"  # a stage kind in stages.STAGE_KINDS: train (pack -> train -> export), search (LongRoPE)
    output_dir: str | None = None  # default: runs/<name>
    model: ModelConfig = field(default_factory=ModelConfig)
    position: PositionConfig = field(default_factory=PositionConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    # Progressive extension: each entry overrides sections for one stage, which starts from
    # the previous stage's output. Empty: one stage made of the recipe itself.
    stages: list = field(default_factory=list)
    # Set by --smoke: same code path, tiny stand-in model, a few steps.
    smoke: bool = False
    # The --section.field values given on the command line: --smoke keeps them over its own.
    overrides: dict = field(default_factory=dict)

    def validate(self) -> None:
        sections = (self.model, self.position, self.attention, self.adapter, self.data, self.train, self.eval, self.search)
        for section in sections:
            section.validate()
        check_name("name", self.name)
        for i, stage in enumerate(self.stages):
            if not isinstance(stage, dict) or "name" not in stage:
                raise RecipeError(f"stages[{i}] must be a mapping with a 'name' (got {stage!r})")
            check_name(f"stages[{i}].name", stage["name"])
        names = [s["name"] for s in self.stages]
        if len(set(names)) != len(names):
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise RecipeError(f"stage names must be unique; {repeated} appear more than once in {names}")
        if self.data.seq_len % self.train.sequence_parallel:
            raise RecipeError(
                f"data.seq_len = {self.data.seq_len} does not split over train.sequence_parallel = "
                f"{self.train.sequence_parallel} ranks; use a multiple of {self.train.sequence_parallel}"
            )
        window = self.position.original_max_position_embeddings
        if self.eval.sliding_stride is not None and window and self.eval.sliding_stride > window:
            raise RecipeError(
                f"eval.sliding_stride = {self.eval.sliding_stride}: must be <= the original window {window}, "
                "the smallest window scored (a larger stride skips tokens)"
            )
        if self.kind == "search":
            check_search_fits(self)

    def length(self) -> int:
        """The sequence length this stage works at: its training length, or its search length."""
        return (self.search.length or self.data.seq_len) if self.kind == "search" else self.data.seq_len

    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir or f"runs/{self.name}{'-smoke' if self.smoke else ''}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of every value that changes what training produces (not where it is written).
        Values left at their defaults are not hashed, so adding a field keeps earlier fingerprints."""
        payload = _non_default(self.to_dict(), Recipe().to_dict())
        for key in ("output_dir", "description", "overrides"):
            payload.pop(key, None)
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _non_default(values: dict, defaults: dict) -> dict:
    out = {}
    for key, value in values.items():
        default = defaults.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(default, dict) and default:
            nested = _non_default(value, default)
            if nested:
                out[key] = nested
        elif value != default:
            out[key] = value
    return out


_MISSING = object()
