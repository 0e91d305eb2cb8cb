"""Sources -> tokens -> packs, cached on disk under a key made of content and config."""
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


def packed_cache_key(data: DataConfig, tokenizer) -> str:
    payload = {
        "sources": sources_fingerprint(data.sources),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "seq_len": data.seq_len,
        "policy": data.split_policy,
        "min_doc_tokens": data.min_doc_tokens,
        "max_train_tokens": data.max_train_tokens,
        "seed": data.seed,
        "packer": PACKER_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


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
            print(stats.report(), flush=True)
            return packed, stats, out
    docs = load_documents(data.sources)
    tokenized = tokenize_documents(docs, tokenizer, data.num_proc)
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
    save_packed(packed, stats, out)
    print(stats.report(), flush=True)
    return datasets.load_from_disk(str(out)), stats, out
