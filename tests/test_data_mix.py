"""Data mixes (longft/data/mix, data/*.yaml): shares by source and by long/short part are met,
upsampling moves lengths inside a source and not the shares, the draw is reproducible, the mix
reaches the packer whole, and bad definitions fail early naming the value."""
import json
import numpy as np
import pytest
import yaml

from longft.data.mix.definition import MIXES_DIR, mix_names, parse_mix, resolve_data_section
from longft.data.mix.sampling import plan_cells, systematic_copies
from longft.errors import RecipeError
from longft.validation import load_recipe

SEQ_LEN = 1024
# Stated tolerance: a source's share, and the long/short split, within 1 point of the target when
# every source has more tokens than its share and the budget is a few hundred pieces or more.
TOLERANCE = 0.01


def lognormal_docs(n, seed, median=600, sigma=1.2):
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(median), sigma, n).astype(np.int64), 8, 20 * SEQ_LEN)


def pieces(doc_lengths):
    """(piece length, its document's length), cut as the chunk policy cuts."""
    lens, docs = [], []
    for n in doc_lengths:
        for s in range(0, n, SEQ_LEN):
            lens.append(min(SEQ_LEN, n - s))
            docs.append(n)
    return np.array(lens), np.array(docs)


def mix_of(weights, tokens=300_000, **extra):
    sources = [{"name": f"s{i}", "weight": w, "source": {"type": "testbed"}, **extra.pop(f"s{i}", {})}
               for i, w in enumerate(weights)]
    return parse_mix({"name": "t", "sources": sources, "tokens": tokens, **extra}, SEQ_LEN)


CORPUS = [pieces(lognormal_docs(3000, seed)) for seed in range(3)]


def drawn(cells, corpus=CORPUS):
    """source -> (tokens, tokens by part, (doc length, copies) per piece)."""
    out = {}
    for c in cells:
        i = int(c.source[1:])
        lens, docs = corpus[i]
        tokens = int((lens[c.pieces] * c.copies).sum())
        entry = out.setdefault(c.source, {"tokens": 0, "parts": {}, "copies": np.zeros(len(lens), dtype=np.int64)})
        entry["tokens"] += tokens
        entry["parts"][c.part] = entry["parts"].get(c.part, 0) + tokens
        entry["copies"][c.pieces] += c.copies
    return out


def plan(mix, corpus=CORPUS):
    return plan_cells(mix, [c[0] for c in corpus], [c[1] for c in corpus])


def test_sources_get_their_token_shares():
    mix = mix_of([0.5, 0.3, 0.2])
    got = drawn(plan(mix))
    total = sum(v["tokens"] for v in got.values())
    assert abs(total - 300_000) / 300_000 < TOLERANCE
    for name, weight in (("s0", 0.5), ("s1", 0.3), ("s2", 0.2)):
        assert abs(got[name]["tokens"] / total - weight) < TOLERANCE, (name, got[name]["tokens"] / total)
        assert got[name]["copies"].max() == 1  # enough tokens: nothing repeated


def test_long_short_split_and_source_shares_hold_together():
    mix = mix_of([0.6, 0.4], long_short={"long_fraction": 0.6, "long_min_tokens": 1024})
    corpus = CORPUS[:2]
    got = drawn(plan(mix, corpus), corpus)
    total = sum(v["tokens"] for v in got.values())
    long = sum(v["parts"]["long"] for v in got.values())
    assert abs(long / total - 0.6) < TOLERANCE
    natural = sum(int(lens[docs >= 1024].sum()) for lens, docs in corpus) / sum(int(c[0].sum()) for c in corpus)
    assert abs(natural - 0.6) > 0.1  # the split is the mix's doing, not the corpus's
    for name, weight in (("s0", 0.6), ("s1", 0.4)):
        assert abs(got[name]["tokens"] / total - weight) < TOLERANCE


def test_short_part_pieces_come_from_short_documents_only():
    mix = mix_of([1.0], tokens=50_000, long_short={"long_fraction": 0.5, "long_min_tokens": 512})
    for c in plan(mix, CORPUS[:1]):
        docs = CORPUS[0][1][c.pieces[c.copies > 0]]
        assert (docs >= 512).all() if c.part == "long" else (docs < 512).all()


def long_share(entry, corpus_index, threshold=1024):
    lens, docs = CORPUS[corpus_index]
    tokens = lens * entry["copies"]
    return tokens[docs >= threshold].sum() / tokens.sum()


def test_upsampling_moves_lengths_within_a_source_but_not_the_shares():
    plain = drawn(plan(mix_of([0.5, 0.5], tokens=200_000)))
    upsampled = drawn(plan(mix_of([0.5, 0.5], tokens=200_000, s0={"upsample": {"min_tokens": 1024, "factor": 3}})))
    for got in (plain, upsampled):
        total = sum(v["tokens"] for v in got.values())
        assert abs(got["s0"]["tokens"] / total - 0.5) < TOLERANCE
    before, after = long_share(plain["s0"], 0), long_share(upsampled["s0"], 0)
    # factor 3 on the long documents' odds: p -> 3p / (3p + 1 - p)
    expected = 3 * before / (3 * before + 1 - before)
    assert after > before + 0.05
    assert abs(after - expected) < 0.04, (before, after, expected)
    assert abs(long_share(upsampled["s1"], 1) - long_share(plain["s1"], 1)) < 0.04  # the other source is untouched


def test_the_draw_is_reproducible_from_the_seed():
    a = [c.copies for c in plan(mix_of([0.5, 0.5], seed=3))]
    b = [c.copies for c in plan(mix_of([0.5, 0.5], seed=3))]
    c = [c.copies for c in plan(mix_of([0.5, 0.5], seed=4))]
    assert all((x == y).all() for x, y in zip(a, b))
    assert any((x != y).any() for x, y in zip(a, c))


def test_a_source_short_of_tokens_gives_what_it_has_and_the_others_fill_in():
    small = pieces(lognormal_docs(40, 9))
    corpus = [CORPUS[0], small]
    mix = mix_of([0.5, 0.5], tokens=200_000)
    cells = plan(mix, corpus)
    got = drawn(cells, corpus)
    assert got["s1"]["tokens"] == int(small[0].sum())  # all of it, once
    assert got["s1"]["copies"].max() == 1 and got["s0"]["copies"].max() == 1
    assert abs(got["s0"]["tokens"] + got["s1"]["tokens"] - 200_000) / 200_000 < TOLERANCE
    assert [c.capped for c in cells] == [False, True]


def test_a_budget_past_what_there_is_repeats_in_proportion():
    mix = mix_of([0.5, 0.5], tokens=4 * int(sum(c[0].sum() for c in CORPUS[:2])))
    got = drawn(plan(mix, CORPUS[:2]), CORPUS[:2])
    total = sum(v["tokens"] for v in got.values())
    assert abs(got["s0"]["tokens"] / total - 0.5) < TOLERANCE
    assert got["s0"]["copies"].min() >= 3  # every piece drawn about 4 times


def test_default_budget_is_the_largest_that_repeats_nothing():
    mix = parse_mix({"name": "t", "sources": [{"name": f"s{i}", "weight": w, "source": {"type": "testbed"}}
                                               for i, w in enumerate([0.5, 0.5])]}, SEQ_LEN)
    got = drawn(plan(mix, CORPUS[:2]), CORPUS[:2])
    smaller = min(int(c[0].sum()) for c in CORPUS[:2])
    assert all(v["copies"].max() == 1 for v in got.values())
    assert abs(min(v["tokens"] for v in got.values()) - smaller) / smaller < TOLERANCE


def test_systematic_copies_meet_the_expectation():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 1000, 5000).astype(float)
    copies = systematic_copies(lengths, np.ones(5000), 0.3 * lengths.sum(), rng)
    assert set(np.unique(copies)) <= {0, 1}
    assert abs((lengths * copies).sum() / lengths.sum() - 0.3) < 0.005


def test_no_part_has_documents_fails_naming_the_rule():
    mix = mix_of([1.0], long_short={"long_fraction": 0.5, "long_min_tokens": 1024})
    only_short = [(np.array([100, 200]), np.array([100, 200]))]
    with pytest.raises(RecipeError, match=r"no source has long documents \(>= 1024 tokens\)"):
        plan(mix, only_short)


# -- definitions ---------------------------------------------------------------------------------

def entry(name, weight, **extra):
    return {"name": name, "weight": weight, "source": {"type": "testbed"}, **extra}


@pytest.mark.parametrize("raw, words", [
    ({"sources": [entry("a", 0.5), entry("b", 0.3)]}, ["weights sum to 0.8", "a=0.5", "b=0.3", "sum to 1"]),
    ({"sources": [entry("a", 1.0) | {"source": {"type": "jsonl_files", "path": "x"}}]},
     ["sources[0].source.type = 'jsonl_files'", "jsonl"]),
    ({"sources": [entry("a", 1.0, upsample={"min_tokens": 4096, "factor": 2})]},
     ["upsample.min_tokens = 4096", "data.seq_len = 1024"]),
    ({"sources": [entry("a", 1.0)], "long_short": {"long_fraction": 0.6, "long_min_tokens": 2048}},
     ["long_short.long_min_tokens = 2048", "data.seq_len = 1024"]),
    ({"sources": [entry("a", 1.0)], "long_short": {"long_fraction": 1.0, "long_min_tokens": 512}},
     ["long_fraction = 1.0", "(0, 1)"]),
    ({"sources": [entry("a", 0.5), entry("a", 0.5)]}, ["['a']", "unique"]),
    ({"sources": [entry("a", 1.0, wieght=1)]}, ["wieght", "weight"]),
    ({"sources": [entry("a", 0.0), entry("b", 1.0)]}, ["weight = 0.0", "> 0"]),
    ({"sources": [entry("", 1.0)]}, ["no name"]),
    ({"sources": [entry("a", 1.0, min_tokens=500, max_tokens=100)]}, ["max_tokens = 100", "min_tokens (500)"]),
    ({"sources": [entry("a", 1.0, source={"type": "testbed", "packages": ["emial"]})]}, ["['emial']", "email"]),
])
def test_bad_mix_definitions_fail_naming_the_value(raw, words):
    with pytest.raises(RecipeError) as err:
        parse_mix({"name": "bad", **raw}, SEQ_LEN)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_unknown_mix_name_lists_the_valid_ones():
    with pytest.raises(RecipeError) as err:
        load_recipe("tiny-yarn-4x", overrides={"data": {"mix": "stdlib-long-shrot"}})
    assert "'stdlib-long-shrot'" in str(err.value) and "stdlib-long-short" in str(err.value)
    assert set(mix_names()) >= {"testbed", "stdlib-long-short", "stdlib-upsampled"}


def test_a_flat_mix_with_sampling_keys_or_mixed_entries_fails(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text(yaml.safe_dump({"tokens": 100, "sources": [{"type": "testbed"}]}))
    with pytest.raises(RecipeError, match="plain sources.*tokens"):
        resolve_data_section({"mix": str(flat)})
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(yaml.safe_dump({"sources": [{"type": "testbed"}, entry("a", 1.0)]}))
    with pytest.raises(RecipeError, match="mixes plain sources with weighted entries"):
        resolve_data_section({"mix": str(mixed)})


def test_a_recipe_file_with_both_mix_and_sources_fails(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("extends: tiny-yarn-4x\ndata: {mix: stdlib-upsampled, sources: [{type: testbed}]}\n")
    with pytest.raises(RecipeError, match="both data.mix and data.sources"):
        load_recipe(str(recipe))


def test_the_default_corpus_lives_in_data_and_keeps_its_fingerprint():
    """_testbed names data/testbed.yaml; the recipe resolves to the same sources (and so the same
    run fingerprint and packed-data key) as when it listed them itself."""
    named = load_recipe("tiny-yarn-4x")
    inline = load_recipe("tiny-yarn-4x", overrides={"data": {"mix": None, "sources": [{"type": "testbed", "split": "train"}]}})
    assert named.data.mix is None and named.data.sources == [{"type": "testbed", "split": "train"}]
    assert named.fingerprint() == inline.fingerprint()


def test_a_weighted_mix_is_recorded_whole_and_its_content_moves_the_fingerprint(tmp_path):
    recipe = load_recipe("tiny-yarn-4x-mix")
    assert recipe.data.mix["name"] == "stdlib-long-short" and recipe.data.sources == []
    changed = yaml.safe_load((MIXES_DIR / "stdlib-long-short.yaml").read_text())
    changed["long_short"]["long_fraction"] = 0.5
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(changed))
    assert load_recipe("tiny-yarn-4x-mix", overrides={"data": {"mix": str(other)}}).fingerprint() != recipe.fingerprint()
    # a stage that names a mix resolves it too
    staged = load_recipe("tiny-yarn-4x", overrides={"stages": [{"name": "a"}, {"name": "b", "data": {"mix": "stdlib-upsampled"}}]})
    from longft.validation import stage_recipes

    (_, a), (_, b) = stage_recipes(staged)
    assert a.data.mix is None and b.data.mix["name"] == "stdlib-upsampled"


def test_testbed_source_takes_packages():
    from longft.data.sources import testbed

    tests = testbed.files({"split": "train", "packages": ["test"]})
    rest = testbed.files({"split": "train", "exclude_packages": ["test"]})
    every = testbed.files({"split": "train"})
    assert tests and rest and sorted(tests + rest) == sorted(every)
    assert all("/test/" in str(p) for p in tests)


# -- end to end ----------------------------------------------------------------------------------

def write_jsonl(path, rng, n, words):
    """Documents of log-normal word counts, in a vocabulary of the file's own (its name)."""
    prefix = path.stem
    rows = [{"text": " ".join(f"{prefix}{rng.integers(0, 50)}" for _ in range(max(3, int(k))))}
            for k in rng.lognormal(np.log(words), 1.0, n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_mix_reaches_the_packer_whole(tmp_path, tokenizer, capsys):
    """Tokens of every packed document are a slice of one source document; per-source tokens in the
    packs are what the report says; the report and its plot are kept with the packed data."""
    from longft.data.prepare import packed_cache_key, prepare_packed

    rng = np.random.default_rng(0)
    write_jsonl(tmp_path / "a.jsonl", rng, 300, 150)
    write_jsonl(tmp_path / "b.jsonl", rng, 300, 40)
    mix = {
        "name": "ab", "tokens": 30_000, "seed": 1,
        "long_short": {"long_fraction": 0.5, "long_min_tokens": 256},
        "sources": [
            {"name": "a", "weight": 0.7, "source": {"type": "jsonl", "path": str(tmp_path / "a.jsonl")}},
            {"name": "b", "weight": 0.3, "source": {"type": "jsonl", "path": str(tmp_path / "b.jsonl")},
             "upsample": {"min_tokens": 64, "factor": 2}},
        ],
    }
    recipe = load_recipe("tiny-yarn-4x", overrides={"data": {"mix": mix, "seq_len": 256,
                                                              "min_doc_tokens": 2, "max_train_tokens": None}})
    packed, stats, out = prepare_packed(recipe.data, tokenizer, cache_dir=tmp_path / "packed")
    report = stats.extra["mix"]
    printed = capsys.readouterr().out
    assert "[mix] ab (seed 1)" in printed and "long (>= 256 tokens) / short" in printed
    assert (out / "mix_lengths.png").stat().st_size > 1000
    assert stats.conserved() and stats.tokens_in == report["sampled_tokens"]
    assert abs(report["parts"]["long"]["fraction"] - 0.5) < 0.05
    # every packed piece is a slice of a document of the source the report counts it under
    docs = {}
    for name in ("a", "b"):
        for line in (tmp_path / f"{name}.jsonl").read_text().splitlines():
            ids = tokenizer(json.loads(line)["text"], add_special_tokens=False)["input_ids"]
            docs.setdefault(name, []).append([tokenizer.bos_token_id, *ids, tokenizer.eos_token_id])
    by_source = {"a": 0, "b": 0}
    for ids, lens in zip(packed["input_ids"], packed["doc_lens"]):
        start = 0
        for n in lens:
            piece = list(ids[start:start + n])
            start += n
            owners = {name for name, rows in docs.items()
                      if any(piece == row[i:i + n] for row in rows for i in range(0, len(row) - n + 1, 256))}
            assert len(owners) == 1, "a packed piece is not a pack-aligned slice of one source's document"
            by_source[owners.pop()] += n
    assert by_source == {s["name"]: s["sampled_tokens"] for s in report["sources"]}
    # same definition -> same cache key; another seed -> another key and other packs
    assert packed_cache_key(recipe.data, tokenizer) == out.name
    reseeded = load_recipe("tiny-yarn-4x", overrides={"data": {"mix": {**mix, "seed": 2}, "seq_len": 256,
                                                                "min_doc_tokens": 2, "max_train_tokens": None}})
    assert packed_cache_key(reseeded.data, tokenizer) != out.name


def test_the_later_layer_chooses_between_mix_and_sources():
    """A recipe that names a mix and a command line that lists sources (or the other way round):
    the command line wins, as it does for every other value."""
    jsonl = [{"type": "jsonl", "path": "x.jsonl"}]
    recipe = load_recipe("tiny-yarn-4x-mix", overrides={"data": {"sources": jsonl}})
    assert recipe.data.mix is None and recipe.data.sources == jsonl
    recipe = load_recipe("tiny-yarn-4x", overrides={"data": {"mix": "stdlib-upsampled"}})
    assert recipe.data.mix["name"] == "stdlib-upsampled" and recipe.data.sources == []
    staged = load_recipe("tiny-yarn-4x-mix", overrides={"data": {"sources": jsonl},
                                                        "stages": [{"name": "a", "data": {"mix": "stdlib-upsampled"}}]})
    from longft.validation import stage_recipes

    [(_, stage)] = stage_recipes(staged)
    assert stage.data.mix is None and stage.data.sources == jsonl  # the command line over the stage
