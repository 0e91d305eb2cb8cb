"""search: LongRoPE's evolutionary search of per-dimension rescale factors (kind: search stages)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import RecipeError
from .checks import check_choice, check_positive, check_seed


# LongRoPE's candidate set for n̂, the first positions that keep the original frequencies.
START_TOKEN_CHOICES = (0, 1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 48, 64, 128, 256)
SEARCH_DTYPES = ("float32", "bfloat16", "auto")  # auto: bfloat16 where bf16 is native (longft.precision)


@dataclass
class SearchConfig:
    """LongRoPE evolutionary search of per-dimension RoPE rescale factors (kind: search stages).

    Searched for `length` tokens: longer than the original window gives long factors, equal to
    it gives short factors (what inputs within the original window use)."""

    length: int | None = None  # empty: data.seq_len
    population: int = 64
    parents: int = 32  # the best kept each generation
    mutations: int = 16
    crossovers: int = 16
    iterations: int = 40
    mutation_prob: float = 0.3
    crossover_prob: float = 0.15
    max_scale: float = 1.25  # factors stay in [1, max_scale * length / window]
    step: float = 0.01  # factor granularity
    start_tokens: list = field(default_factory=lambda: list(START_TOKEN_CHOICES))
    sources: list = field(default_factory=lambda: [{"type": "testbed", "split": "train"}])
    num_docs: int = 4  # fitness: perplexity on this many documents truncated to `length`
    batch_size: int = 4  # sequences per forward pass (rows of different candidates share a batch)
    seed: int = 0
    # the weights' dtype while candidates are scored (bfloat16: faster where bf16 matmuls are native,
    # many times slower where they are not; auto: bfloat16 only where native);
    # the checkpoint written keeps the weights as loaded
    dtype: str = "float32"

    def validate(self) -> None:
        check_choice("search.dtype", self.dtype, SEARCH_DTYPES)
        for name in ("population", "parents", "iterations", "num_docs", "batch_size"):
            check_positive(f"search.{name}", getattr(self, name))
        check_positive("search.mutations", self.mutations, minimum=0)
        check_positive("search.crossovers", self.crossovers, minimum=0)
        if self.parents > self.population:
            raise RecipeError(f"search.parents = {self.parents}: must be <= search.population ({self.population})")
        if self.mutations + self.crossovers == 0:
            raise RecipeError("search.mutations + search.crossovers = 0: a generation must make at least one child")
        for name in ("mutation_prob", "crossover_prob"):
            if not 0 < getattr(self, name) <= 1:
                raise RecipeError(f"search.{name} = {getattr(self, name)}: must be in (0, 1]")
        if self.max_scale < 1:
            raise RecipeError(f"search.max_scale = {self.max_scale}: must be >= 1")
        if not 0 < self.step <= 0.5:
            raise RecipeError(f"search.step = {self.step}: must be in (0, 0.5]")
        if not self.start_tokens:
            raise RecipeError(f"search.start_tokens is empty; choose from {list(START_TOKEN_CHOICES)} ([0] for none)")
        for n in self.start_tokens:
            if not isinstance(n, int) or n < 0:
                raise RecipeError(f"search.start_tokens has {n!r}: n̂ values are integers >= 0, e.g. {list(START_TOKEN_CHOICES)}")
        if self.length is not None:
            check_positive("search.length", self.length, minimum=8)
        check_seed("search.seed", self.seed)


def check_search_fits(recipe: "Recipe") -> None:
    """A search stage searches factors for the model as loaded: it takes no position method and
    trains nothing, and its length is the original window (short factors) or longer."""
    if recipe.position.method != "none":
        raise RecipeError(
            f"position.method = {recipe.position.method!r} in a search stage: a LongRoPE search sets the rope "
            "parameters itself; use position.method: none there"
        )
    orig = recipe.position.original_max_position_embeddings
    if orig is not None and recipe.length() < orig:
        raise RecipeError(
            f"search.length = {recipe.length()} is shorter than the original window {orig}: search at the window "
            "itself for short factors, or longer for long factors"
        )
