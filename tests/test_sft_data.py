"""Supervised pairs (LongAlpaca format): the prompt is packed with its answer but carries no loss."""
import json

import pytest

from longft.recipe.schema import DataConfig
from longft.errors import RecipeError
from longft.data.collator import PackedCollator
from longft.data.prepare import prepare_packed
from longft.data.sources import check_sources


def write_pairs(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_prompt_tokens_carry_no_loss(tokenizer, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs, [{"instruction": "Summarise the file.", "output": "It defines f."}, {"instruction": "Name it.", "output": "g"}])
    data = DataConfig(sources=[{"type": "sft_jsonl", "path": str(pairs)}], seq_len=128, split_policy="truncate", num_proc=1)
    packed, stats, _ = prepare_packed(data, tokenizer, cache_dir=tmp_path / "cache")
    assert stats.conserved() and stats.documents_kept == 2
    batch = PackedCollator(128, tokenizer.pad_token_id)([packed[0]])
    scored = [t for t, label in zip(batch["input_ids"][0].tolist(), batch["labels"][0].tolist()) if label != -100]
    text = tokenizer.decode(scored)
    assert "[INST]" not in text and "Summarise" not in text and "Name it" not in text
    assert "It defines f." in text and "g" in text


def test_sft_source_without_output_column_fails(tokenizer, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs, [{"instruction": "x", "answer": "y"}])
    data = DataConfig(sources=[{"type": "sft_jsonl", "path": str(pairs)}], seq_len=64, num_proc=1)
    with pytest.raises(RecipeError, match="has no 'output'.*output_field"):
        check_sources(data.sources)  # before any work
    with pytest.raises(RecipeError, match="no column 'output'.*output_field"):
        prepare_packed(data, tokenizer, cache_dir=tmp_path / "cache")
