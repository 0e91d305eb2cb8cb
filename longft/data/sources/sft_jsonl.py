"""Supervised pairs in LongAlpaca's jsonl format: the prompt (instruction + input) carries no loss."""
from __future__ import annotations

import datasets

from ...errors import RecipeError
from ..validate import check_jsonl
from ._common import path_of, require_file

FIELDS = {"type", "path", "instruction_field", "input_field", "output_field"}


def files(source: dict):
    return [path_of(source)]


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    fields = {sft_field(source, key): (key != "input", f"{key}_field") for key in ("instruction", "output", "input")}
    check_jsonl(require_file(source, check.label), fields, check)
    return True


# LongAlpaca's supervised fine-tuning prompt, in the Llama-2 chat format.
SFT_PROMPT = "[INST] <<SYS>>\nYou are a helpful assistant. Answer from the text you are given.\n<</SYS>>\n\n{instruction}{input} [/INST] "


def sft_field(source: dict, key: str) -> str:
    """The column holding `key` (instruction / input / output) in an sft_jsonl source."""
    return source.get(f"{key}_field", key)


def load_sft(source: dict) -> datasets.Dataset:
    """Columns `prompt` (never scored) and `text` (the answer, scored)."""
    ds = datasets.load_dataset("json", data_files=str(path_of(source)), split="train")
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


load = load_sft
