"""A data mix as the YAML files in data/ state it, typed and validated.

Two forms. A *flat* mix lists plain sources and means their concatenation, every document
once (the embedded default's corpus is one):

    sources: [{type: testbed, split: train}]

A *weighted* mix names its sources and gives each a share of the sampled tokens, with
optional length filters, per-source length upsampling (Fu et al. 2024: within a source,
documents of at least `min_tokens` are drawn `factor` times as often, the source's share
unchanged) and a long/short split (ProLong: `long_fraction` of the tokens from documents of
at least `long_min_tokens`, the rest from shorter ones, each part keeping the source weights):

    tokens: 400000            # sampled token budget; default: the largest that repeats nothing
    seed: 0
    long_short: {long_fraction: 0.6, long_min_tokens: 1024}
    sources:
      - {name: tests, weight: 0.5, source: {type: testbed, packages: [test]},
         upsample: {min_tokens: 1024, factor: 2}}
      - {name: library, weight: 0.5, source: {type: testbed, packages: [toplevel]}}

A recipe names a mix with `data: {mix: NAME}` (a file in data/, or a path). Loading puts the
flat form's sources into `data.sources` and the weighted form, whole, into `data.mix`, so a
run's saved recipe records the mix it trained on and its fingerprint changes with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...errors import RecipeError
from ...yaml_files import load_yaml
from ...recipe.shipped import _shipped, find_shipped_file

MIXES_DIR = _shipped("longft._data_mixes", "data")
WEIGHT_TOLERANCE = 1e-6


@dataclass
class Upsample:
    min_tokens: int = 1  # documents of at least this many tokens ...
    factor: float = 1.0  # ... are drawn this many times as often as the others of their source


@dataclass
class LongShort:
    long_fraction: float = 0.6  # share of the sampled tokens that come from long documents
    long_min_tokens: int = 1  # a document of at least this many tokens is long


@dataclass
class MixSource:
    name: str = ""
    source: dict = field(default_factory=dict)  # a data source, as in data.sources
    weight: float = 0.0  # share of the mix's tokens; the weights of a mix sum to 1
    min_tokens: int = 1  # length filter, in tokens (BOS and EOS included)
    max_tokens: int | None = None
    upsample: Upsample | None = None


@dataclass
class Mix:
    name: str = ""
    description: str = ""
    sources: list = field(default_factory=list)
    tokens: int | None = None
    seed: int = 0
    long_short: LongShort | None = None


def mix_names() -> list[str]:
    return sorted(p.stem for p in MIXES_DIR.glob("*.yaml"))


def find_mix_file(name_or_path: str) -> Path:
    return find_shipped_file(name_or_path, MIXES_DIR, mix_names(), ("data mix", "data mixes"))


def read_mix_file(name_or_path: str) -> dict:
    path = find_mix_file(name_or_path)
    raw = load_yaml(path.read_text(), f"data mix {path}") or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list) or not raw["sources"]:
        raise RecipeError(f"data mix {path} must be a mapping with a non-empty list under 'sources'")
    raw.setdefault("name", path.stem)
    return raw


def is_flat(raw: dict) -> bool:
    """Plain sources only ({type: ...} entries), nothing that would call for sampling."""
    entries = raw["sources"]
    plain = [isinstance(e, dict) and "type" in e for e in entries]
    if all(plain):
        extra = sorted(set(raw) & {"tokens", "long_short"})
        if extra:
            raise RecipeError(
                f"data mix {raw['name']!r} lists plain sources (a concatenation) but sets {extra}: "
                "give each source a name, a weight and a `source:` to sample it"
            )
        return True
    if any(plain):
        raise RecipeError(
            f"data mix {raw['name']!r} mixes plain sources with weighted entries: write every entry as "
            "{name: ..., weight: ..., source: {type: ...}}"
        )
    return False


def resolve_data_section(data: dict) -> dict:
    """`data.mix: NAME` -> the flat mix's sources in `data.sources`, or the weighted mix's
    definition in `data.mix` (and no `data.sources`)."""
    mix = data.get("mix")
    if mix is None:
        return data
    out = dict(data)
    if isinstance(mix, dict):
        out["sources"] = []
        return out
    if not isinstance(mix, str):
        raise RecipeError(f"data.mix = {mix!r}: the name of a mix in data/ ({', '.join(mix_names())}) or a path")
    raw = read_mix_file(mix)
    if is_flat(raw):
        out["sources"], out["mix"] = raw["sources"], None
    else:
        out["sources"], out["mix"] = [], raw
    return out


def normalize_layer(layer: dict, where: str) -> dict:
    """One layer of a recipe (`where`: a file, the command line's overrides, a stage's overrides)
    with its data source choice made explicit, so that merging layers lets the later one win:
    naming a mix sets both `mix` and `sources`, and listing sources alone sets `mix` to none. One
    layer that names both is refused."""
    data = layer.get("data")
    if not isinstance(data, dict):
        return layer
    if data.get("mix") is not None and "sources" in data:
        raise RecipeError(
            f"{where} sets both data.mix and data.sources: a mix names its own sources; keep one "
            "(data.mix: null goes back to data.sources)"
        )
    if "mix" in data:
        return {**layer, "data": resolve_data_section(data)}
    if "sources" in data:
        return {**layer, "data": {**data, "mix": None}}
    return layer


def parse_mix(raw: dict, seq_len: int, where: str = "data.mix") -> Mix:
    """The weighted mix, typed; bad values fail here, naming the entry and what is valid."""
    from ...recipe.parsing import _build
    from ..sources import validate_source

    where = f"{where} ({raw.get('name', 'inline')!r})"
    entries = raw.get("sources")
    if not isinstance(entries, list) or not entries:
        raise RecipeError(f"{where}.sources must be a non-empty list of {{name, weight, source}} entries")
    mix = _build(Mix, {**raw, "sources": []}, where)
    mix.sources = [_build(MixSource, entry, f"{where}.sources[{i}]") for i, entry in enumerate(entries)]
    names = [s.name for s in mix.sources]
    for i, s in enumerate(mix.sources):
        at = f"{where}.sources[{i}]"
        if not s.name:
            raise RecipeError(f"{at} has no name: every weighted source is named, as its report row is")
        if not s.source:
            raise RecipeError(f"{at} ({s.name}) has no `source:`, e.g. {{type: jsonl, path: docs.jsonl}}")
        validate_source(s.source, f"{at}.source")
        if not s.weight > 0:
            raise RecipeError(f"{at}.weight = {s.weight}: must be > 0 (leave the source out instead)")
        if s.min_tokens < 1:
            raise RecipeError(f"{at}.min_tokens = {s.min_tokens}: must be >= 1")
        if s.max_tokens is not None and s.max_tokens < s.min_tokens:
            raise RecipeError(f"{at}.max_tokens = {s.max_tokens}: must be >= min_tokens ({s.min_tokens})")
        if s.upsample is not None:
            if not s.upsample.factor > 0:
                raise RecipeError(f"{at}.upsample.factor = {s.upsample.factor}: must be > 0")
            _threshold(f"{at}.upsample.min_tokens", s.upsample.min_tokens, seq_len)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RecipeError(f"{where}: source names {duplicates} appear more than once; names must be unique")
    total = sum(s.weight for s in mix.sources)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        listed = ", ".join(f"{s.name}={s.weight:g}" for s in mix.sources)
        raise RecipeError(f"{where}: weights sum to {total:g} ({listed}); they are token shares and must sum to 1")
    if mix.tokens is not None and mix.tokens < 1:
        raise RecipeError(f"{where}.tokens = {mix.tokens}: must be >= 1 (or left out: the largest budget that repeats nothing)")
    streamed = [s.name for s in mix.sources if s.source.get("streaming")]
    if streamed and mix.tokens is None:
        raise RecipeError(f"{where}: sources {streamed} are streamed: set the mix's tokens, so that each stream "
                          "knows where to stop (its weight x tokens)")
    if mix.long_short is not None:
        if not 0 < mix.long_short.long_fraction < 1:
            raise RecipeError(f"{where}.long_short.long_fraction = {mix.long_short.long_fraction}: must be in (0, 1)")
        _threshold(f"{where}.long_short.long_min_tokens", mix.long_short.long_min_tokens, seq_len)
    return mix


def _threshold(path: str, value: int, seq_len: int) -> None:
    if not 1 <= value <= seq_len:
        raise RecipeError(
            f"{path} = {value}: must be between 1 and the pack length data.seq_len = {seq_len}; "
            "training never sees more of a document than one pack, so longer does not mean more context to it"
        )
