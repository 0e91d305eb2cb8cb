"""Document sources: local text folders, jsonl, parquet, saved `datasets`, and the testbed corpus.

Every source becomes a `datasets.Dataset` with one document per row in a `text` column.
`check_sources` runs before any work so that a missing file fails at once.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import datasets

from ..errors import RecipeError
from .validate import SourceCheck, check_jsonl, check_parquet, check_saved_dataset, check_text_files
from ..testbed.corpus import corpus_files, corpus_fingerprint, read_text


def _path(source: dict) -> Path:
    return Path(source["path"]).expanduser()


def check_sources(sources: list[dict], where: str = "data.sources", max_undecodable_fraction: float = 0.001,
                  log=print) -> None:
    """Fail early, naming the source, the file and the row, when the data is missing or bad.
    Every file is read once here (before any model loads); see `validate`."""
    for i, source in enumerate(sources):
        kind = source["type"]
        if kind == "testbed":
            continue
        path = _path(source)
        check = SourceCheck(f"{where}[{i}] ({kind})")
        label = check.label
        if kind == "text_dir":
            if not path.is_dir():
                raise RecipeError(f"{label}: folder {str(path)!r} does not exist; set it to a folder of text files")
            files = _files_of(source)
            if not files:
                raise RecipeError(f"{label}: no files match {source.get('glob', '**/*.txt')!r} in {str(path)!r}")
            check_text_files(files, max_undecodable_fraction, check)
        elif kind == "hf_disk":
            if not (path / "dataset_info.json").is_file() and not (path / "dataset_dict.json").is_file():
                raise RecipeError(
                    f"{label}: {str(path)!r} is not a dataset saved with `datasets.save_to_disk` "
                    "(no dataset_info.json / dataset_dict.json)"
                )
            check_saved_dataset(_load_saved(source), source.get("field", "text"), f"{label}: {str(path)!r}", check)
        elif not path.is_file():
            raise RecipeError(
                f"{label}: file {str(path)!r} does not exist; set its 'path' to a local {kind.replace('sft_', '')} file"
            )
        elif kind == "sft_jsonl":
            fields = {sft_field(source, key): (key != "input", f"{key}_field") for key in ("instruction", "output", "input")}
            check_jsonl(path, fields, check)
        elif kind == "jsonl":
            check_jsonl(path, {source.get("field", "text"): (True, "field")}, check)
        elif kind == "parquet":
            check_parquet(path, source.get("field", "text"), check)
        log(check.report(), flush=True)


def _load_saved(source: dict) -> datasets.Dataset:
    ds = datasets.load_from_disk(str(_path(source)))
    if isinstance(ds, datasets.DatasetDict):
        split = source.get("split", "train")
        if split not in ds:
            raise RecipeError(f"hf_disk source {source['path']!r} has splits {list(ds)}, not {split!r}")
        ds = ds[split]
    return ds


def _files_of(source: dict) -> list[Path]:
    kind = source["type"]
    if kind == "testbed":
        return corpus_files(source.get("split", "train"), source.get("max_files"))
    path = _path(source)
    if kind == "text_dir":
        return sorted(p for p in path.glob(source.get("glob", "**/*.txt")) if p.is_file())
    if kind == "hf_disk":
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def sources_fingerprint(sources: list[dict]) -> str:
    """A content hash of the sources: the packed-data cache is keyed by it."""
    h = hashlib.sha256()
    for source in sources:
        h.update(repr(sorted(source.items())).encode())
        if source["type"] == "testbed":
            h.update(corpus_fingerprint().encode())
            continue
        for path in _files_of(source):
            h.update(str(path).encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


# LongAlpaca's supervised fine-tuning prompt, in the Llama-2 chat format.
SFT_PROMPT = "[INST] <<SYS>>\nYou are a helpful assistant. Answer from the text you are given.\n<</SYS>>\n\n{instruction}{input} [/INST] "


def sft_field(source: dict, key: str) -> str:
    """The column holding `key` (instruction / input / output) in an sft_jsonl source."""
    return source.get(f"{key}_field", key)


def load_sft(source: dict) -> datasets.Dataset:
    """Columns `prompt` (never scored) and `text` (the answer, scored)."""
    ds = datasets.load_dataset("json", data_files=str(_path(source)), split="train")
    fields = {k: sft_field(source, k) for k in ("instruction", "input", "output")}
    for key in ("instruction", "output"):
        if fields[key] not in ds.column_names:
            raise RecipeError(
                f"sft_jsonl source {source['path']!r} has no column {fields[key]!r} (columns: {ds.column_names}); "
                f"set '{key}_field' on the source"
            )

    def to_pair(row):
        extra = row.get(fields["input"]) or ""
        prompt = SFT_PROMPT.format(instruction=row[fields["instruction"]], input=f"\n\n{extra}" if extra else "")
        return {"prompt": prompt, "text": row[fields["output"]]}

    return ds.map(to_pair, remove_columns=ds.column_names, desc="formatting SFT pairs")


def load_source(source: dict) -> datasets.Dataset:
    kind = source["type"]
    field = source.get("field", "text")
    if kind == "sft_jsonl":
        return load_sft(source)
    if kind in ("testbed", "text_dir"):
        files = _files_of(source)
        return datasets.Dataset.from_dict({"text": [read_text(p) for p in files]})
    if kind == "jsonl":
        ds = datasets.load_dataset("json", data_files=str(_path(source)), split="train")
    elif kind == "parquet":
        ds = datasets.load_dataset("parquet", data_files=str(_path(source)), split="train")
    else:
        ds = _load_saved(source)
    if field not in ds.column_names:
        raise RecipeError(
            f"{kind} source {source.get('path')!r} has no column {field!r}; its columns are {ds.column_names} "
            "(set 'field' on the source)"
        )
    ds = ds.select_columns([field])
    return ds.rename_column(field, "text") if field != "text" else ds


def load_documents(sources: list[dict]) -> datasets.Dataset:
    parts = [load_source(s) for s in sources]
    if any("prompt" in p.column_names for p in parts):  # mixed sources: plain documents have no prompt
        parts = [p if "prompt" in p.column_names else p.add_column("prompt", [""] * len(p)) for p in parts]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
