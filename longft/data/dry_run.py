"""`longft data RECIPE`: what each stage's data would read, before anything is downloaded or packed.

Per source: where it comes from (a local folder or file, the Hub, the local datasets cache), its
config, split and streaming, the token budget it is read to, an estimate of the documents that
takes (from the mean length of its first rows, where they can be read without a download), and
where the packs go (the pack cache folder, and whether it is already there)."""
from __future__ import annotations

import math
from pathlib import Path

SAMPLE_ROWS = 32  # rows tokenized for the mean document length


def _mean_tokens(source: dict, tokenizer) -> float | None:
    from .sources import hf

    if source.get("type") != "hf" or tokenizer is None:
        return None
    try:
        rows = [row[hf.text_field(source)] for row in hf.open_rows(source, streaming=True).take(SAMPLE_ROWS)]
    except Exception:  # noqa: BLE001 - an estimate only; the preflight check names real problems
        return None
    if not rows:
        return None
    return sum(len(ids) + 2 for ids in tokenizer(rows, add_special_tokens=False)["input_ids"]) / len(rows)


def _origin(source: dict) -> str:
    from .sources import hf

    if source.get("type") != "hf":
        return f"local {source['type']} {source.get('path', '')!r}".rstrip(" ''")
    if hf.is_local(source):
        return f"local dataset folder {source['path']!r}"
    if source["path"] in hf.LOADERS:
        return f"{source['path']} files {source.get('data_files')!r}"
    import datasets

    mode = "streamed from the Hub (nothing kept on disk)" if source.get("streaming") else (
        f"downloaded from the Hub into the datasets cache {datasets.config.HF_DATASETS_CACHE}"
        + (" (offline: the cache only)" if hf.offline() else ""))
    return f"Hub dataset {source['path']!r}, {mode}"


def describe(data, tokenizer, cache_dir: Path) -> list[str]:
    """Lines describing what `data` (a DataConfig) would read and write; `tokenizer` None where the
    model's tokenizer is not on this machine (no estimate, no pack folder name)."""
    from .budget import budgeted, read_budget
    from .prepare import packed_cache_key

    lines = []
    if isinstance(data.mix, dict):
        tokens = data.mix.get("tokens")
        entries = [(e["name"], e["source"], e["weight"]) for e in data.mix["sources"]]
        lines.append(f"mix {data.mix.get('name', 'inline')!r}: "
                     + (f"{tokens:,} tokens" if tokens else "the largest budget that repeats nothing"))
    else:
        tokens = data.max_train_tokens
        entries = [(f"source {i}", s, None) for i, s in enumerate(data.sources)]
        lines.append("sources: " + (f"data.max_train_tokens = {tokens:,}" if tokens else "read whole (no token budget)"))
    for name, source, weight in entries:
        where = [f"  {name}: {_origin(source)}"]
        if source.get("type") == "hf":
            where.append(f"config {source.get('name') or 'default'!r}, split {source.get('split', 'train')!r}, "
                         f"text field {source.get('text_field', 'text')!r}"
                         + (f", revision {source['revision']}" if source.get("revision") else ""))
        share = None if tokens is None else math.ceil(tokens * weight) if weight is not None else tokens
        if share is not None and budgeted(source):
            mean = _mean_tokens(source, tokenizer)
            estimate = f", about {share / mean:,.0f} documents at {mean:,.0f} tokens each (first rows)" if mean else ""
            where.append(f"read in order until {read_budget(tokens, data.seq_len, weight):,} tokens{estimate}")
        elif share is not None:
            where.append(f"read whole; the packer samples {share:,} tokens of it")
        lines.append("; ".join(where))
    if tokenizer is None:
        lines.append(f"packs of {data.seq_len} tokens -> {cache_dir}/<key> (the key needs the model's tokenizer, "
                     "which is not on this machine)")
        return lines
    out = cache_dir / packed_cache_key(data, tokenizer)
    lines.append(f"packs of {data.seq_len} tokens -> {out}" + (" (already there: reused)" if out.is_dir() else ""))
    return lines
