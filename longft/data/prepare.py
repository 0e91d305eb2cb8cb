"""Sources (or a weighted data mix) -> tokens -> packs, cached on disk under a key made of
content and config."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets

from ..recipe.schema import DataConfig
from ..paths import cache_home
from .packing import PACKER_VERSION, PackStats, load_packed, pack_tokenized, save_packed
from .sources import load_documents, sources_fingerprint
from .tokenizing import tokenize_documents, tokenizer_fingerprint

MIX_PLOT = "mix_lengths.png"
MIX_SAMPLER_VERSION = 1  # bump when longft/data/mix draws differently from the same definition


def packed_cache_key(data: DataConfig, tokenizer) -> str:
    sources, _ = data.all_sources()
    payload = {
        "sources": sources_fingerprint(sources),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "seq_len": data.seq_len,
        "policy": data.split_policy,
        "min_doc_tokens": data.min_doc_tokens,
        "max_train_tokens": data.max_train_tokens,
        "seed": data.seed,
        "packer": PACKER_VERSION,
    }
    if data.mix is not None:  # absent for plain sources, so their keys stay what they were
        payload["mix"] = {k: v for k, v in data.mix.items() if k not in ("name", "description")}
        payload["mix_sampler"] = MIX_SAMPLER_VERSION
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def prepare_packed(data: DataConfig, tokenizer, cache_dir: Path | None = None) -> tuple[datasets.Dataset, PackStats, Path]:
    cache_dir = cache_dir or cache_home() / "packed"
    out = cache_dir / packed_cache_key(data, tokenizer)
    if out.is_dir():
        try:
            packed, stats = load_packed(out)
        except (ValueError, OSError) as exc:
            print(f"[data] packed-data cache {out} is damaged ({exc}); rebuilding it", flush=True)
        else:
            print(f"[data] packed data from cache {out}", flush=True)
            print_reports(stats, out)
            return packed, stats, out
    tokenized, mix_report = documents_to_pack(data, tokenizer)
    packed, stats = pack_tokenized(
        tokenized, data.seq_len, data.split_policy, data.min_doc_tokens, data.max_train_tokens, data.seed
    )
    if not stats.conserved():
        raise RuntimeError(f"packer lost tokens: {stats}")
    if stats.packs == 0:
        from ..errors import RecipeError

        raise RecipeError(
            f"no sequence could be packed from data.sources ({stats.documents_in} documents, "
            f"{stats.tokens_in} tokens): lower data.min_doc_tokens or check data.split_policy"
        )
    write_plot = None
    if mix_report is not None:
        from .mix.report import plot_report

        stats.extra["mix"] = mix_report

        def write_plot(folder: Path) -> None:
            plot_report(mix_report, folder / MIX_PLOT)

    save_packed(packed, stats, out, write_extra=write_plot)
    print_reports(stats, out)
    return datasets.load_from_disk(str(out)), stats, out


def documents_to_pack(data: DataConfig, tokenizer) -> tuple[datasets.Dataset, dict | None]:
    """Tokenized documents in the order the packer takes them, and the mix report (weighted mixes)."""
    if data.mix is None:
        return tokenize_documents(load_documents(data.sources), tokenizer, data.num_proc), None
    from .mix.build import sample_mix
    from .mix.definition import parse_mix

    mix = parse_mix(data.mix, data.seq_len)
    return sample_mix(mix, tokenizer, data.seq_len, data.split_policy, data.min_doc_tokens, data.num_proc)


def print_reports(stats: PackStats, out: Path) -> None:
    if "mix" in stats.extra:
        from .mix.report import format_report

        print(format_report(stats.extra["mix"]), flush=True)
        print(f"[mix] length histogram: {out / MIX_PLOT}", flush=True)
    print(stats.report(), flush=True)
