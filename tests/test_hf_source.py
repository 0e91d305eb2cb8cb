"""The `hf` source on local stand-ins only (no network): a dataset folder in Hub layout (parquet
shards and a README.md card naming its configs), read by path with a config and a split; streamed
and not streamed under a token budget; the pack cache; a kill during the stream; bad fields."""
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from longft.data.prepare import packed_cache_key, prepare_packed
from longft.data.sources import check_sources, load_source
from longft.errors import RecipeError
from longft.recipe.schema import DataConfig

HARNESS = Path(__file__).with_name("kill_harness.py")
CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: test
    path: data/test-*.parquet
- config_name: numbers
  data_files:
  - split: train
    path: numbers/train-*.parquet
---
# A local stand-in for a Hub dataset
"""
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def document(i: int) -> str:
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] + str(k % 13) for k in range(20 + (i * 37) % 160))


def write_hub_folder(root: Path, docs: int = 1200, shards: int = 3) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "numbers").mkdir()
    per = -(-docs // shards)
    for s in range(shards):
        rows = range(s * per, min(docs, (s + 1) * per))
        table = pa.table({"text": [document(i) for i in rows], "id": list(rows)})
        pq.write_table(table, root / "data" / f"train-{s:05d}-of-{shards:05d}.parquet")
    pq.write_table(pa.table({"text": ["held out " + document(i) for i in range(5)]}), root / "data" / "test-00000-of-00001.parquet")
    pq.write_table(pa.table({"body": ["one two three"] * 4, "value": [1, 2, 3, 4]}), root / "numbers" / "train-00000-of-00001.parquet")
    (root / "README.md").write_text(CARD)
    return root


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    return write_hub_folder(tmp_path_factory.mktemp("hub") / "stand-in")


def test_loaded_by_path_with_a_config_and_a_split(hub_folder):
    train = load_source({"type": "hf", "path": str(hub_folder)})
    assert len(train) == 1200 and train.column_names == ["text"] and train[0]["text"] == document(0)
    test = load_source({"type": "hf", "path": str(hub_folder), "split": "test"})
    assert len(test) == 5 and test[0]["text"].startswith("held out")
    numbers = load_source({"type": "hf", "path": str(hub_folder), "name": "numbers", "text_field": "body"})
    assert numbers["text"] == ["one two three"] * 4


def test_a_loader_name_with_data_files(hub_folder):
    ds = load_source({"type": "hf", "path": "parquet", "data_files": str(hub_folder / "data" / "test-*.parquet")})
    assert len(ds) == 5


@pytest.mark.parametrize("source, says", [
    ({"split": "validation"}, "no split 'validation'; its splits are ['train', 'test']"),
    ({"name": "words"}, "no config 'words'; its configs are ['default', 'numbers']"),
    ({"text_field": "content"}, "has no column 'content'; its columns are ['text', 'id']"),
    ({"text_field": "id"}, "column 'id' holds int"),
    ({"name": "numbers"}, "has no column 'text'; its columns are ['body', 'value']"),
], ids=["unknown-split", "unknown-config", "missing-field", "field-not-text", "config-without-text"])
def test_bad_fields_fail_in_one_line_before_any_model_loads(hub_folder, source, says):
    with pytest.raises(RecipeError) as err:
        check_sources([{"type": "hf", "path": str(hub_folder), **source}])
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_hub_id_neither_local_nor_cached_fails_offline_naming_it(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "empty-cache")
    with pytest.raises(RecipeError) as err:
        check_sources([{"type": "hf", "path": "someone/not-cached-anywhere"}])
    message = str(err.value)
    assert "'someone/not-cached-anywhere'" in message and "HF_DATASETS_OFFLINE" in message
    assert "huggingface-cli download someone/not-cached-anywhere --repo-type dataset" in message


def test_a_stream_needs_a_budget():
    from longft.validation import load_recipe

    with pytest.raises(RecipeError, match="streamed: set data.max_train_tokens"):
        load_recipe("tiny-yarn-4x", {"data": {"sources": [{"type": "hf", "path": "x", "streaming": True}],
                                              "max_train_tokens": None}})
    with pytest.raises(RecipeError, match="must be true or false"):
        load_recipe("tiny-yarn-4x", {"data": {"sources": [{"type": "hf", "path": "x", "streaming": "yes"}]}})


def data_config(folder: Path, streaming: bool, tokens: int | None = 6000) -> DataConfig:
    return DataConfig(sources=[{"type": "hf", "path": str(folder), "streaming": streaming}], seq_len=256,
                      max_train_tokens=tokens, min_doc_tokens=16, num_proc=1, seed=3)


def test_streamed_and_not_streamed_give_the_same_packs(hub_folder, tokenizer, tmp_path):
    streamed, stats, _ = prepare_packed(data_config(hub_folder, True), tokenizer, tmp_path / "a")
    whole, whole_stats, _ = prepare_packed(data_config(hub_folder, False), tokenizer, tmp_path / "b")
    assert streamed["input_ids"] == whole["input_ids"] and streamed["doc_lens"] == whole["doc_lens"]
    assert stats.tokens_in == whole_stats.tokens_in
    assert stats.tokens_kept >= 6000 and stats.tokens_dropped_budget > 0  # the packer's budget, met, not more read


def test_the_budget_stops_the_stream(hub_folder, tokenizer, tmp_path):
    from longft.data.budget import BATCH_DOCS, read_within_budget

    source = {"type": "hf", "path": str(hub_folder), "streaming": True}
    read = read_within_budget(source, tokenizer, 3000, 16, tmp_path / "w", log=lambda *a, **k: None)
    assert len(read) == BATCH_DOCS < 1200  # one batch held the budget: the rest was never read
    assert sum(read["length"]) >= 3000
    more = read_within_budget(source, tokenizer, 10**9, 16, tmp_path / "w2", log=lambda *a, **k: None)
    assert len(more) == 1200  # a budget past the corpus reads it all, once


def test_a_rerun_takes_the_pack_cache_and_the_key_follows_the_source(hub_folder, tokenizer, tmp_path, capsys):
    data = data_config(hub_folder, True)
    first, _, path = prepare_packed(data, tokenizer, tmp_path)
    again, _, same = prepare_packed(data, tokenizer, tmp_path)
    assert same == path and "packed data from cache" in capsys.readouterr().out
    assert again["input_ids"] == first["input_ids"]
    assert not any(p.name.endswith(".reading") for p in tmp_path.iterdir())  # the stream's rows are gone
    other = [
        data_config(hub_folder, True, tokens=7000),
        DataConfig(**{**data.__dict__, "sources": [{**data.sources[0], "split": "test"}]}),
        DataConfig(**{**data.__dict__, "sources": [{**data.sources[0], "revision": "abc123"}]}),
    ]
    keys = {packed_cache_key(d, tokenizer) for d in other} | {packed_cache_key(data, tokenizer)}
    assert len(keys) == 4


def test_the_local_files_are_in_the_key(tokenizer, tmp_path):
    folder = write_hub_folder(tmp_path / "ds", docs=30, shards=1)
    data = data_config(folder, False, tokens=None)
    before = packed_cache_key(data, tokenizer)
    pq.write_table(pa.table({"text": ["changed"] * 30}), folder / "data" / "train-00000-of-00001.parquet")
    assert packed_cache_key(data, tokenizer) != before


def test_a_kill_during_the_stream_leaves_no_cache_and_the_rerun_completes(hub_folder, tokenizer, tmp_path):
    from longft.paths import cache_home
    from longft.validation import load_recipe

    recipe = tmp_path / "streamed.yaml"
    recipe.write_text(
        "extends: tiny-yarn-4x\n"
        f"data: {{sources: [{{type: hf, path: '{hub_folder}', streaming: true}}], max_train_tokens: 20000, "
        "seq_len: 256, min_doc_tokens: 16}\n"
    )
    cache = cache_home() / "packed" / packed_cache_key(load_recipe(str(recipe)).data, tokenizer)
    reading = cache.with_name(f".{cache.name}.reading")
    killed = subprocess.run([sys.executable, str(HARNESS), "stream:100", "pack", str(recipe)], capture_output=True,
                            text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert reading.is_dir() and not cache.exists()  # what was read is set apart; no cache, whole or partial
    rerun = subprocess.run([sys.executable, "-m", "longft", "pack", str(recipe)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "documents read" in rerun.stdout and f"[pack] stage main: {cache}" in rerun.stdout
    assert cache.is_dir() and not reading.exists()


def test_mds_shards_are_refused_in_one_line(tmp_path):
    import json

    (tmp_path / "mds").mkdir()
    (tmp_path / "mds" / "index.json").write_text(json.dumps({"version": 2, "shards": [{"column_names": ["input_ids"]}]}))
    with pytest.raises(RecipeError, match=r"MosaicML streaming \(MDS\) shards, which longft does not read"):
        check_sources([{"type": "hf", "path": str(tmp_path / "mds")}])


def test_a_mix_over_hf_sources_reads_each_only_to_its_share(hub_folder, tokenizer, tmp_path, capsys):
    mix = {"name": "hub-mix", "tokens": 8000, "seed": 0, "sources": [
        {"name": "streamed", "weight": 0.75, "source": {"type": "hf", "path": str(hub_folder), "streaming": True}},
        {"name": "held", "weight": 0.25, "source": {"type": "hf", "path": str(hub_folder), "split": "test"}},
    ]}
    data = DataConfig(mix=mix, seq_len=256, min_doc_tokens=16, num_proc=1, seed=3)
    packed, stats, _ = prepare_packed(data, tokenizer, tmp_path)
    out = capsys.readouterr().out
    assert "'streamed': its share, 6,256 tokens" in out and "'held': its share, 2,256 tokens" in out
    assert "reading until 6,256 tokens (streamed)" in out
    texts = [tokenizer.decode(ids) for ids in packed["input_ids"]]
    assert any("held out" in t for t in texts) and any("held out" not in t for t in texts)
    assert not any(p.name.endswith(".reading") for p in tmp_path.iterdir())


def test_supervised_pairs_from_a_hub_layout_folder(tokenizer, tmp_path):
    from longft.data.collator import PackedCollator

    folder = tmp_path / "long-alpaca"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.table({"instruction": ["Summarise the file.", "Name it."], "output": ["It defines f.", "g"],
                             "file": ["a", "b"]}), folder / "data" / "train-00000-of-00001.parquet")
    data = DataConfig(sources=[{"type": "sft_hf", "path": str(folder)}], seq_len=128, split_policy="truncate",
                      num_proc=1)
    check_sources(data.sources)
    packed, stats, _ = prepare_packed(data, tokenizer, cache_dir=tmp_path / "cache")
    assert stats.documents_kept == 2
    batch = PackedCollator(128, tokenizer.pad_token_id)([packed[0]])
    scored = tokenizer.decode([t for t, y in zip(batch["input_ids"][0].tolist(), batch["labels"][0].tolist()) if y != -100])
    assert "Summarise" not in scored and "It defines f." in scored
    with pytest.raises(RecipeError, match="'answer'"):
        check_sources([{"type": "sft_hf", "path": str(folder), "output_field": "answer"}])


PAPER_RECIPES = ["longlora-8k", "longlora-32k", "longlora-100k", "longlora-full-32k", "longlora-sft-32k", "pi-32k",
                 "yarn-64k", "yarn-128k", "longrope-256k", "pose-128k", "longllama-3b-fot", "landmark-llama2-7b"]


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_every_paper_recipe_names_its_dataset_and_the_section_resolves(name):
    """No download: the recipe loads (each source's type and fields validated) and every data, search
    and evaluation source of every stage is a Hub dataset, not a local file the user must make."""
    from longft.pipeline import planned_stages
    from longft.validation import load_recipe

    recipe = load_recipe(name)
    for _, stage, _ in planned_stages(recipe):
        sources = [*stage.eval.sources, *(stage.search.sources if stage.kind == "search" else stage.data.sources)]
        assert sources and all(s["type"] in ("hf", "sft_hf") for s in sources), sources
        assert all("/" in s["path"] or s.get("data_files", "").startswith("hf://") for s in sources), sources


def test_longft_data_says_what_a_paper_recipe_would_read_without_downloading(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "LONGFT_HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "longft", "data", "pose-128k"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Hub dataset 'dwzhu/PoSE-Datasets'" in run.stdout and "split 'train'" in run.stdout
    assert "tokenizer of 'meta-llama/Llama-2-7b-hf' not loaded here" in run.stdout
    assert not (tmp_path / "cache" / "packed").exists() or not any((tmp_path / "cache" / "packed").iterdir())


def test_longft_data_counts_what_the_budget_takes(hub_folder, tokenizer, tmp_path):
    from longft.data.dry_run import describe

    lines = describe(data_config(hub_folder, True), tokenizer, tmp_path)
    assert f"local dataset folder '{hub_folder}'" in lines[1] and "read in order until 6,256 tokens" in lines[1]
    assert "about" in lines[1] and "documents at" in lines[1]
    assert lines[-1].startswith("packs of 256 tokens -> ") and not any(tmp_path.iterdir())
