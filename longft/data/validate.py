"""Read every source file once before the model loads, so bad data fails in one clear line.

- text files: binary files (a NUL byte) are refused; undecodable UTF-8 bytes are counted and the
  file refused when they pass `max_undecodable_fraction` (below it they become U+FFFD, reported);
- jsonl: each line parses, is an object, holds the text field as a string (file and line named);
- parquet / saved datasets: the file is one, the column exists, holds strings, no nulls;
- an empty file, or a source with no rows, is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RecipeError

BINARY_SNIFF_BYTES = 8192


@dataclass
class SourceCheck:
    label: str
    files: int = 0
    rows: int = 0
    undecodable_bytes: int = 0
    files_with_undecodable: int = 0
    notes: list = field(default_factory=list)  # what the check did that a user should know (links followed)

    def report(self) -> str:
        text = f"[data] {self.label}: {self.files} file(s), {self.rows} document(s) checked"
        for note in self.notes:
            text += f"; {note}"
        if self.undecodable_bytes:
            text += (f"; {self.undecodable_bytes} undecodable byte(s) in {self.files_with_undecodable} file(s) "
                     "will be read as U+FFFD")
        return text


def undecodable_bytes(data: bytes) -> int:
    """Bytes that are not part of valid UTF-8 (what errors='ignore' drops)."""
    return len(data) - len(data.decode("utf-8", errors="ignore").encode("utf-8"))


def check_text_bytes(path: Path, data: bytes, max_fraction: float, check: SourceCheck) -> None:
    nul = data.find(b"\0", 0, BINARY_SNIFF_BYTES)
    if nul >= 0:
        raise RecipeError(
            f"{check.label}: {str(path)!r} is a binary file (NUL byte at offset {nul}), not text; "
            "remove it or narrow the source's glob"
        )
    bad = undecodable_bytes(data)
    if bad:
        share = bad / len(data)
        if share > max_fraction:
            raise RecipeError(
                f"{check.label}: {str(path)!r} has {bad} undecodable bytes ({share:.2%} of the file, above "
                f"data.max_undecodable_fraction = {max_fraction}); convert it to UTF-8, or set "
                f"--data.max_undecodable_fraction {min(1.0, round(share + 0.005, 2))} to read them as U+FFFD"
            )
        check.undecodable_bytes += bad
        check.files_with_undecodable += 1


def check_text_files(files: list[Path], max_fraction: float, check: SourceCheck) -> None:
    nonempty = 0
    for path in files:
        data = path.read_bytes()
        check.files += 1
        if data.strip():
            nonempty += 1
            check_text_bytes(path, data, max_fraction, check)
    check.rows = nonempty
    if not nonempty:
        raise RecipeError(f"{check.label}: every matched file is empty; point the source at files with text")


def check_jsonl(path: Path, fields: dict[str, tuple[bool, str]], check: SourceCheck) -> None:
    """`fields`: column -> (required, the source key that names it); an optional one may be missing or null.
    Refused as well: a source where no row has text in its required fields (it would train on BOS/EOS alone)."""
    check.files = 1
    text_fields = [name for name, (needed, _) in fields.items() if needed]
    usable = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            where = f"{check.label}: {str(path)!r} line {number}"
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise RecipeError(f"{where} is not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                                  "is it a jsonl file?") from None
            except ValueError as exc:
                raise RecipeError(f"{where} is not valid JSON ({exc.msg} at column {exc.colno}); "
                                  "each line must be one JSON object") from None
            except RecursionError:
                raise RecipeError(f"{where} nests too deeply to read as JSON; a row is an object like "
                                  "{\"text\": \"...\"}") from None
            if not isinstance(row, dict):
                raise RecipeError(f"{where} is a JSON {type(row).__name__}, not an object like {{\"text\": \"...\"}}")
            for name, (required, setting) in fields.items():
                value = row.get(name)
                if value is None and not required:
                    continue
                if name not in row:
                    raise RecipeError(f"{where} has no {name!r} (keys: {sorted(row)}); set '{setting}' on the source")
                if not isinstance(value, str):
                    raise RecipeError(f"{where}: {name!r} is {type(value).__name__} ({str(value)[:40]!r}), expected a string")
                check_unicode(value, f"{where}: {name!r}")
            check.rows += 1
            usable += all(row[name].strip() for name in text_fields)
    if not check.rows:
        raise RecipeError(f"{check.label}: {str(path)!r} is empty; it needs one JSON object per line")
    if not usable:
        raise RecipeError(f"{check.label}: {str(path)!r} has {check.rows} row(s) and every one's "
                          f"{' / '.join(map(repr, text_fields))} is empty; point the source at rows with text")


def check_unicode(text: str, where: str) -> None:
    """JSON escapes can spell lone surrogates (\\ud800), which no text encoding holds."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecipeError(f"{where} holds a lone surrogate (U+{ord(text[exc.start]):04X} at character {exc.start}), "
                          "which is not text; fix the \\u escape in the file") from None


def is_text_type(kind) -> bool:
    """Strings in any of arrow's layouts: string, large_string, string_view, or a dictionary of them."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def check_arrow_column(table_column, field: str, where: str, check: SourceCheck) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not is_text_type(table_column.type):
        raise RecipeError(f"{where}: column {field!r} holds {table_column.type}, expected strings")
    if table_column.null_count:
        first = pc.index(pc.is_null(table_column), True).as_py()
        raise RecipeError(f"{where}: column {field!r} is null in {table_column.null_count} row(s), the first at row {first}")
    text = table_column.cast(pa.large_string())
    if len(text) and not pc.any(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0)).as_py():
        raise RecipeError(f"{where}: column {field!r} is empty in every one of its {len(text)} row(s); "
                          "point the source at rows with text")


def check_parquet(path: Path, field: str, check: SourceCheck) -> None:
    import pyarrow.parquet as pq

    where = f"{check.label}: {str(path)!r}"
    check.files = 1
    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise RecipeError(f"{where} is not a readable parquet file ({str(exc).splitlines()[0][:120]})") from None
    names = meta.schema_arrow.names
    if field not in names:
        raise RecipeError(f"{where} has no column {field!r}; its columns are {names} (set 'field' on the source)")
    check_arrow_column(meta.read(columns=[field]).column(field), field, where, check)
    check.rows = meta.metadata.num_rows
    if not check.rows:
        raise RecipeError(f"{where} has no rows")


def check_saved_dataset(ds, field: str, where: str, check: SourceCheck) -> None:
    if field not in ds.column_names:
        raise RecipeError(f"{where} has no column {field!r}; its columns are {ds.column_names} (set 'field' on the source)")
    check_arrow_column(ds.data.column(field), field, where, check)
    check.rows = ds.num_rows
    if not check.rows:
        raise RecipeError(f"{where} has no rows")
