"""data: the sources or the named mix a stage trains on, and how documents become packs.

A named mix (`mix: NAME`) is resolved into its sources by the data layer while the recipe is
loaded (`recipe.loading` takes the data layer's `normalize_layer`); sources and mixes are checked
against the source registry by `longft.validation`."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import RecipeError
from .checks import check_choice, check_number_in, check_positive, check_seed

SPLIT_POLICIES = ("chunk", "truncate", "drop")


@dataclass
class DataConfig:
    sources: list = field(default_factory=lambda: [{"type": "testbed", "split": "train"}])
    # A weighted data mix (data/*.yaml, named in a recipe as `mix: NAME`; loading puts its whole
    # definition here, and a flat mix's sources into `sources`). It replaces `sources`. A name
    # stays a name only where a recipe is read without the data layer (its model section alone).
    mix: dict | str | None = None
    seq_len: int = 1024
    split_policy: str = "chunk"  # documents longer than seq_len: chunk | truncate | drop
    min_doc_tokens: int = 2  # shorter documents are dropped (and counted)
    max_train_tokens: int | None = None  # stop taking documents past this many tokens
    num_proc: int = 2
    seed: int = 0
    # Text files with more undecodable (non-UTF-8) bytes than this share are refused; below it the
    # bytes become U+FFFD and are counted. 1.0 accepts any file.
    max_undecodable_fraction: float = 0.001

    def validate(self) -> None:
        check_choice("data.split_policy", self.split_policy, SPLIT_POLICIES)
        check_positive("data.seq_len", self.seq_len, minimum=8)
        check_positive("data.num_proc", self.num_proc)
        check_positive("data.min_doc_tokens", self.min_doc_tokens)
        check_seed("data.seed", self.seed)
        if self.max_train_tokens is not None:
            check_positive("data.max_train_tokens", self.max_train_tokens)
        check_number_in("data.max_undecodable_fraction", self.max_undecodable_fraction, 0, 1)
        if self.mix is None and not self.sources:
            raise RecipeError("data.sources is empty: list at least one source, e.g. [{type: testbed}], or name a data.mix")

    def all_sources(self) -> tuple[list[dict], str]:
        """Every source this data section reads, and where the recipe lists them."""
        if isinstance(self.mix, dict):
            return [entry["source"] for entry in self.mix["sources"]], f"data.mix ({self.mix.get('name')!r}) sources"
        return self.sources, "data.sources"
