"""Supervised pairs through `datasets.load_dataset` (LongAlpaca-12k on the Hub, or a local copy in
Hub layout): the hf source's fields for where the data is, sft_jsonl's for the pair, formatted by
LongAlpaca's prompt; the prompt (instruction + input) carries no loss. Read whole (no stream)."""
from __future__ import annotations

import datasets

from ...errors import RecipeError
from . import hf
from .sft_jsonl import SFT_PROMPT, sft_field

FIELDS = (hf.FIELDS - {"text_field", "streaming"}) | {"instruction_field", "input_field", "output_field"}
files, fingerprint = hf.files, hf.fingerprint


def validate(source: dict, where: str) -> None:
    hf.validate(source, where)


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    for key in ("instruction", "output"):
        hf.check({**source, "text_field": sft_field(source, key)}, check, max_undecodable_fraction)
    return True


def load(source: dict) -> datasets.Dataset:
    ds = hf.open_rows(source, streaming=False)
    fields = {k: sft_field(source, k) for k in ("instruction", "input", "output")}
    for key in ("instruction", "output"):
        if fields[key] not in ds.column_names:
            raise RecipeError(f"sft_hf source {source['path']!r} has no column {fields[key]!r} (columns: "
                              f"{ds.column_names}); set '{key}_field' on the source")

    def to_pair(row):
        extra = row.get(fields["input"]) or ""
        prompt = SFT_PROMPT.format(instruction=row[fields["instruction"]], input=f"\n\n{extra}" if extra else "")
        return {"prompt": prompt, "text": row[fields["output"]]}

    return ds.map(to_pair, remove_columns=ds.column_names, desc="formatting SFT pairs")
