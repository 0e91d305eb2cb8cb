"""A dataset read through `datasets.load_dataset`: a Hub id, a local folder in Hub layout (parquet /
jsonl / arrow files, with or without a README.md card naming its configs), or a loader name
(`json`, `parquet`, `text`, `csv`) with `data_files`.

    {type: hf, path: NAME_OR_DIR, name: CONFIG, split: train, text_field: text,
     streaming: false, revision: COMMIT, data_files: ...}

Under a token budget (data.max_train_tokens, or a mix's `tokens`) documents are taken in the
dataset's own order until the budget is met, streamed or not, so both give the same packs
(budget.py). `streaming: true` reads an `IterableDataset` and so never holds the corpus on disk or
in memory; it needs a budget. Offline (HF_DATASETS_OFFLINE=1 or HF_HUB_OFFLINE=1) a Hub id resolves
from the local datasets cache only.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import datasets

from ...errors import RecipeError
from ._common import text_column

FIELDS = {"type", "path", "name", "split", "text_field", "streaming", "revision", "data_files"}
LOADERS = ("json", "parquet", "text", "csv", "arrow")  # packaged loaders that need data_files
ROWS_CHECKED = 64  # the first rows read in preflight (text_field present and a string)


def validate(source: dict, where: str) -> None:
    """Field types, at recipe load (nothing is read yet)."""
    for key in ("path", "name", "split", "text_field", "revision"):
        if key in source and not (isinstance(source[key], str) and source[key]):
            raise RecipeError(f"{where}.{key} = {source[key]!r}: must be a non-empty string")
    if not isinstance(source.get("streaming", False), bool):
        raise RecipeError(f"{where}.streaming = {source['streaming']!r}: must be true or false")
    files = source.get("data_files")
    if files is not None and not isinstance(files, (str, list, dict)):
        raise RecipeError(f"{where}.data_files = {files!r}: a path, a list of paths, or {{split: paths}}")
    if source["path"] in LOADERS and not files:
        raise RecipeError(f"{where}: the {source['path']!r} loader reads files: set data_files")


def text_field(source: dict) -> str:
    return source.get("text_field", "text")


def split(source: dict) -> str:
    return source.get("split", "train")


def is_local(source: dict) -> bool:
    return Path(source["path"]).expanduser().is_dir()


def offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def _args(source: dict) -> dict:
    path = str(Path(source["path"]).expanduser()) if is_local(source) else source["path"]
    args = {"path": path, "name": source.get("name"), "revision": source.get("revision")}
    if source.get("data_files") is not None:
        args["data_files"] = source["data_files"]
    return args


def files(source: dict):
    """Local data the content hash covers (a Hub id is keyed by its id, config, split and revision)."""
    if is_local(source):
        return sorted(p for p in Path(source["path"]).expanduser().rglob("*") if p.is_file() and ".cache" not in p.parts)
    files = source.get("data_files")
    if files is None or source["path"] not in LOADERS:
        return []
    named = [files] if isinstance(files, str) else list(files.values()) if isinstance(files, dict) else files
    flat = [f for group in named for f in ([group] if isinstance(group, str) else group)]
    return sorted(p for pattern in flat for p in (Path().glob(pattern) if not Path(pattern).is_absolute()
                                                   else [Path(pattern)]) if p.is_file())


def fingerprint(source: dict) -> str:
    h = hashlib.sha256()
    for path in files(source):
        h.update(str(path).encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _where(source: dict, label: str) -> str:
    what = f"{label}: dataset {source['path']!r}"
    if source.get("name"):
        what += f" (config {source['name']!r})"
    return what


def builder(source: dict, label: str):
    """The dataset's builder (its configs, splits, features), or one line on why it cannot be had."""
    where = _where(source, label)
    try:
        return datasets.load_dataset_builder(**_args(source))
    except ValueError as exc:
        if "BuilderConfig" in str(exc) or "Config name" in str(exc):
            try:
                names = datasets.get_dataset_config_names(_args(source)["path"], revision=source.get("revision"))
            except Exception:  # noqa: BLE001 - the names are a courtesy; the first error is the message
                names = []
            raise RecipeError(f"{where}: no config {source.get('name')!r}; its configs are {names}") from None
        raise RecipeError(f"{where}: {str(exc).splitlines()[0]}") from None
    except (FileNotFoundError, ConnectionError, OSError) as exc:
        if not is_local(source) and offline():
            raise RecipeError(
                f"{where} is not a local folder and not in the datasets cache, and the hub is offline "
                f"(HF_DATASETS_OFFLINE / HF_HUB_OFFLINE); fetch it with `huggingface-cli download {source['path']} "
                "--repo-type dataset --local-dir DIR` and set path: DIR"
            ) from None
        raise RecipeError(f"{where} cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                          "a Hub id, a local dataset folder, or a loader name with data_files") from None


def splits_of(b) -> list[str]:
    if b.info.splits:
        return list(b.info.splits)
    data_files = getattr(b.config, "data_files", None)
    return list(data_files) if data_files else []


def mds_folder(source: dict) -> bool:
    """MosaicML streaming (MDS) shards: an index.json that lists `shards` (ProLong's data is published so)."""
    index = Path(source["path"]).expanduser() / "index.json"
    if not (is_local(source) and index.is_file()):
        return False
    try:
        return "shards" in json.loads(index.read_text())
    except (ValueError, OSError):
        return False


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    where = _where(source, check.label)
    if mds_folder(source):
        raise RecipeError(
            f"{where} holds MosaicML streaming (MDS) shards, which longft does not read: they carry token ids of "
            "the tokenizer they were made with (ProLong's: Llama-3's), not text; convert them to text (jsonl or "
            "parquet) or use the text release of the data"
        )
    b = builder(source, check.label)
    known = splits_of(b)
    if known and split(source) not in known:
        raise RecipeError(f"{where}: no split {split(source)!r}; its splits are {known}")
    field = text_field(source)
    features = b.info.features
    if features is not None and field not in features:
        raise RecipeError(f"{where} has no column {field!r}; its columns are {list(features)} (set text_field)")
    rows = 0
    for row in open_rows(source, streaming=True).take(ROWS_CHECKED):
        if field not in row:
            raise RecipeError(f"{where} has no column {field!r}; its columns are {list(row)} (set text_field)")
        if not isinstance(row[field], str):
            raise RecipeError(f"{where}: column {field!r} holds {type(row[field]).__name__} at row {rows}, not text "
                              "(set text_field to a string column)")
        rows += 1
    if rows == 0:
        raise RecipeError(f"{where}: split {split(source)!r} has no rows")
    check.files, check.rows = max(1, len(files(source))), rows
    check.notes.append(f"the first {rows} rows' {field!r} checked" + (", streamed" if source.get("streaming") else ""))
    return True


def open_rows(source: dict, streaming: bool):
    """The split as a Dataset, or an IterableDataset read in order when `streaming`."""
    try:
        return datasets.load_dataset(**_args(source), split=split(source), streaming=streaming)
    except ValueError as exc:  # an unknown split, as datasets words it
        raise RecipeError(f"{_where(source, 'hf source')}: {str(exc).splitlines()[0]}") from None


def load(source: dict) -> datasets.Dataset:
    """The whole split (no budget). A streamed source is only read under a budget (budget.py)."""
    if source.get("streaming"):
        raise RecipeError(f"{_where(source, 'hf source')} is streamed: set data.max_train_tokens (or the mix's "
                          "tokens) so that the stream knows where to stop")
    ds = open_rows(source, streaming=False)
    return text_column(ds, {"type": "hf", "path": source["path"], "field": text_field(source)})
