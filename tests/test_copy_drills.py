"""The copy-drills source: reproducible, every repeat equal to its first copy, and only the repeat
(plus the document's end) scored once packed beside ordinary documents."""
import pytest

from longft.data.collator import PackedCollator
from longft.data.prepare import prepare_packed
from longft.data.sources import load_source
from longft.errors import RecipeError
from longft.data.sources import validate_source
from longft.recipe.schema import DataConfig


def test_copies_are_reproducible_from_their_seed():
    a = load_source({"type": "copy_drills", "documents": 40, "seed": 1}).to_dict()
    b = load_source({"type": "copy_drills", "documents": 40, "seed": 1}).to_dict()
    c = load_source({"type": "copy_drills", "documents": 40, "seed": 2}).to_dict()
    assert a == b and a != c and len(a["text"]) == 40


def test_each_repeat_is_its_first_copy_with_the_asked_number_of_items():
    docs = load_source({"type": "copy_drills", "documents": 200, "min_items": 3, "max_items": 5})
    counts = set()
    for prompt, text in zip(docs["prompt"], docs["text"]):
        assert prompt == text and text.endswith("\n")
        counts.add(len(text.split()))
    assert counts == {3, 4, 5}
    assert len(set(docs["text"])) == 200  # fresh values in every document


def test_only_the_repeat_is_scored_once_packed_with_code(tokenizer, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"text": "def f(x):\\n    return x + 1\\n"}\n')
    sources = [{"type": "copy_drills", "documents": 6, "seed": 3}, {"type": "jsonl", "path": str(docs)}]
    data = DataConfig(sources=sources, seq_len=512, split_policy="truncate", num_proc=1)
    packed, stats, _ = prepare_packed(data, tokenizer, cache_dir=tmp_path / "cache")
    assert stats.documents_kept == 7
    row = PackedCollator(512, tokenizer.pad_token_id)([packed[0]])
    ids, labels = row["input_ids"][0].tolist(), row["labels"][0].tolist()
    scored = tokenizer.decode([t for t, label in zip(ids, labels) if label != -100], skip_special_tokens=True)
    copies = load_source({"type": "copy_drills", "documents": 6, "seed": 3})["text"]
    assert "return x + 1" in scored  # ordinary documents are scored whole
    for line in copies:  # each line appears twice in the row, scored once
        assert tokenizer.decode(ids, skip_special_tokens=True).count(line) == 2
        assert scored.count(line) == 1


@pytest.mark.parametrize("field,value", [("documents", 0), ("documents", "many"), ("min_items", 0),
                                         ("max_items", True), ("seed", "x")])
def test_bad_fields_are_refused(field, value):
    source = {"type": "copy_drills", "documents": 5, field: value}
    with pytest.raises(RecipeError, match=rf"data.sources\[0\].{field}"):
        validate_source(source, "data.sources[0]")


def test_min_above_max_is_refused():
    with pytest.raises(RecipeError, match="min_items = 9 is above max_items = 4"):
        validate_source({"type": "copy_drills", "documents": 5, "min_items": 9, "max_items": 4}, "data.sources[0]")
