"""Sources (or a weighted data mix) -> tokens -> packs, cached on disk under a key made of
content and config."""
from __future__ import annotations

import hashlib
import json
import shutil
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
    # budgeted sources write what they read here; an interrupted run leaves it, the next one clears it
    workdir = cache_dir / f".{out.name}.reading"
    shutil.rmtree(workdir, ignore_errors=True)
    tokenized, mix_report = documents_to_pack(data, tokenizer, workdir)
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
    shutil.rmtree(workdir, ignore_errors=True)
    print_reports(stats, out)
    return datasets.load_from_disk(str(out)), stats, out


def documents_to_pack(data: DataConfig, tokenizer, workdir: Path) -> tuple[datasets.Dataset, dict | None]:
    """Tokenized documents in the order the packer takes them, and the mix report (weighted mixes)."""
    if data.mix is None:
        return tokenized_sources(data, tokenizer, workdir), None
    from .mix.build import sample_mix
    from .mix.definition import parse_mix

    mix = parse_mix(data.mix, data.seq_len)
    return sample_mix(mix, tokenizer, data.seq_len, data.split_policy, data.min_doc_tokens, data.num_proc,
                      workdir=workdir)


def tokenized_sources(data: DataConfig, tokenizer, workdir: Path) -> datasets.Dataset:
    """Every source loaded whole and tokenized, except those that stop at data.max_train_tokens
    (budget.py), each of which reads only as far as the budget."""
    from .budget import budgeted, read_budget, read_within_budget

    if data.max_train_tokens is None or not any(budgeted(s) for s in data.sources):
        return tokenize_documents(load_documents(data.sources), tokenizer, data.num_proc)
    parts = [
        read_within_budget(s, tokenizer, read_budget(data.max_train_tokens, data.seq_len), data.min_doc_tokens,
                           workdir / str(i))
        if budgeted(s) else tokenize_documents(load_documents([s]), tokenizer, data.num_proc)
        for i, s in enumerate(data.sources)
    ]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def print_reports(stats: PackStats, out: Path) -> None:
    if "mix" in stats.extra:
        from .mix.report import format_report

        print(format_report(stats.extra["mix"]), flush=True)
        print(f"[mix] length histogram: {out / MIX_PLOT}", flush=True)
    print(stats.report(), flush=True)
