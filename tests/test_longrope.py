"""LongRoPE: the search's operators keep every constraint, the search is reproducible, resumable and
never ends worse than its seeds, its fitness is what transformers' longrope computes, and a search
stage writes a plain transformers checkpoint."""
import json
import math
import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from longft.errors import RecipeError
from longft.recipe.schema import SearchConfig, START_TOKEN_CHOICES
from longft.validation import load_recipe
from longft.methods.longrope.stage import FACTORS_FILE, longrope_parameters
from longft.methods.longrope.candidates import SearchSpace, base_inv_freq, method_factors
from longft.methods.longrope.fitness import CandidateFitness, longrope_attention_scale
from longft.methods.longrope.search import evolutionary_search

SPACE = SearchSpace(dims=16, upper=10.0, step=0.01, start_choices=START_TOKEN_CHOICES)


def seeds_for(space, scale=8.0):
    return {
        "pi": space.make([scale] * space.dims),
        "ramp": space.make([1 + (scale - 1) * i / (space.dims - 1) for i in range(space.dims)]),
        "ones": space.make([1.0] * space.dims, start_tokens=4),
    }


def test_make_clips_rounds_and_orders():
    c = SPACE.make([0.5, 3.333, 2.0, 50.0] + [1.0] * 12, start_tokens=5)
    assert SPACE.valid(c)
    assert SPACE.factors(c)[:4] == [1.0, 3.33, 3.33, 10.0] and c.start_tokens == 4


def test_mutation_and_crossover_keep_every_constraint():
    rng = random.Random(0)
    pool = list(seeds_for(SPACE).values())
    crossed = 0
    for _ in range(2000):
        child = SPACE.mutate(rng.choice(pool), rng, 0.3)
        assert SPACE.valid(child), child
        pool.append(child)
        a, b = rng.sample(pool, 2)
        mixed = SPACE.crossover(a, b, rng, 0.15)
        if mixed is not None:
            assert SPACE.valid(mixed), mixed
            crossed += 1
            pool.append(mixed)
    assert crossed > 100  # crossovers mostly succeed; the invalid ones are refused, not repaired
    assert len({c.start_tokens for c in pool}) > 3  # n̂ moves, but only inside its set
    assert len({c.key() for c in pool}) > 1000


def synthetic_fitness(calls):
    """A cheap stand-in for perplexity with a known optimum; records every candidate it scores."""
    target = [1 + 7 * (i / 15) ** 2 for i in range(16)]

    def fitness(candidates):
        calls.extend(c.key() for c in candidates)
        return [10 + sum((f - t) ** 2 for f, t in zip(SPACE.factors(c), target)) + 0.01 * c.start_tokens for c in candidates]

    return fitness


CFG = SearchConfig(population=12, parents=6, mutations=4, crossovers=4, iterations=6, seed=3)


def test_search_is_reproducible_from_its_seed_and_never_worse_than_its_seeds():
    calls_a, calls_b, calls_c = [], [], []
    a = evolutionary_search(SPACE, synthetic_fitness(calls_a), seeds_for(SPACE), CFG, progress=lambda m: None)
    b = evolutionary_search(SPACE, synthetic_fitness(calls_b), seeds_for(SPACE), CFG, progress=lambda m: None)
    other = SearchConfig(**{**CFG.__dict__, "seed": 4})
    c = evolutionary_search(SPACE, synthetic_fitness(calls_c), seeds_for(SPACE), other, progress=lambda m: None)
    assert a.best == b.best and a.history == b.history and calls_a == calls_b
    assert calls_a != calls_c
    assert a.best_ppl <= min(a.seeds.values())
    bests = [h["best"] for h in a.history]
    assert all(x >= y for x, y in zip(bests, bests[1:])) and bests[-1] < bests[0]
    assert len(calls_a) == len(set(calls_a)) == a.evaluated  # no candidate is scored twice
    assert a.cache_hits > 0  # parents are reused, not re-evaluated


def test_interrupted_search_resumes_to_the_uninterrupted_result(tmp_path):
    whole_calls, cut_calls = [], []
    whole = evolutionary_search(SPACE, synthetic_fitness(whole_calls), seeds_for(SPACE), CFG, progress=lambda m: None)
    state = tmp_path / "state.json"
    evolutionary_search(SPACE, synthetic_fitness(cut_calls), seeds_for(SPACE), CFG, state, lambda m: None, stop_after=2)
    assert json.loads(state.read_text())["generation"] == 2
    resumed = evolutionary_search(SPACE, synthetic_fitness(cut_calls), seeds_for(SPACE), CFG, state, lambda m: None)
    assert resumed.best == whole.best and resumed.history == whole.history
    assert cut_calls == whole_calls  # the resumed run re-scores nothing
    with pytest.raises(RecipeError, match="other settings"):
        evolutionary_search(SPACE, synthetic_fitness([]), seeds_for(SPACE), SearchConfig(seed=9), state, lambda m: None)


def test_seeds_come_from_transformers_methods(make_model):
    model = make_model(window=64)
    seeds = method_factors(model.config, 64, 4.0)
    assert seeds["pi"] == pytest.approx([4.0] * 8)
    assert seeds["ntk"][0] == pytest.approx(1.0) and seeds["ntk"][-1] == pytest.approx(4.0, rel=1e-6)
    assert min(seeds["yarn"]) == pytest.approx(1.0) and max(seeds["yarn"]) == pytest.approx(4.0)
    for f in seeds.values():
        assert all(a <= b + 1e-9 for a, b in zip(f, f[1:]))


def plain_longrope_model(base, window, length, factors):
    config = base.config.__class__.from_dict(base.config.to_dict())
    config.rope_parameters = longrope_parameters(config.rope_parameters, window, length / window, factors, [1.0] * len(factors))
    config.max_position_embeddings = length
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    model.load_state_dict(base.state_dict())
    return model


def perplexity(model, docs):
    ids = torch.tensor(docs)
    with torch.no_grad():
        return math.exp(model(input_ids=ids, labels=ids).loss.item())


def test_fitness_equals_transformers_longrope_and_rows_do_not_mix(make_model):
    window, length = 32, 128
    base = make_model(window=window)
    space = SearchSpace(8, 5.0, 0.01, (0, 4))
    docs = torch.randint(3, 300, (3, length), generator=torch.Generator().manual_seed(0)).tolist()
    cands = [space.make([1, 1.5, 2, 2.5, 3, 3.5, 4, 4]), space.make([4.0] * 8), space.make([4.0] * 8, start_tokens=4)]
    scale = longrope_attention_scale(length / window, window)
    fit = CandidateFitness(base, docs, space, base_inv_freq(base.config), scale, batch_size=4)
    together = fit(cands)
    alone = [fit([c])[0] for c in cands]
    hidden, ids = torch.randn(2, length, 64), torch.tensor(docs[:2])
    assert torch.allclose(fit._summed_nll(hidden, ids, chunk=7), fit._summed_nll(hidden, ids), rtol=1e-5)
    assert together == pytest.approx(alone, rel=1e-6)
    for c, ppl in zip(cands[:2], together):
        assert ppl == pytest.approx(perplexity(plain_longrope_model(base, window, length, space.factors(c)), docs), rel=1e-5)
    assert together[2] != pytest.approx(together[1], rel=1e-6)  # n̂ = 4 changes the first positions
    # n̂ covering every position with no attention scale: exactly the unscaled model
    keep_all = SearchSpace(8, 5.0, 0.01, (length,))
    unscaled = CandidateFitness(base, docs, keep_all, base_inv_freq(base.config), 1.0)([keep_all.make([4.0] * 8, length)])
    assert unscaled[0] == pytest.approx(perplexity(base, docs), rel=1e-5)


def test_search_stage_writes_a_plain_longrope_checkpoint_with_the_searched_perplexity(tmp_path):
    from longft.recipe.schema import ModelConfig
    from longft.methods.longrope.stage import search_documents
    from longft.models import load_tokenizer
    from longft.pipeline import planned_stages, run_recipe

    recipe = load_recipe("tiny-longrope-8x-zeroshot", {"output_dir": str(tmp_path), "eval": {"enabled": False}}, smoke=True)
    result = run_recipe(recipe)
    found = json.loads((tmp_path / "main" / FACTORS_FILE).read_text())
    model = AutoModelForCausalLM.from_pretrained(result["output"]).eval()
    rope = model.config.rope_parameters
    assert rope["rope_type"] == "longrope" and rope["long_factor"] == found["exported"]["factors"]
    assert rope["short_factor"] == [1.0] * len(rope["long_factor"])
    assert rope["original_max_position_embeddings"] == found["original_window"]
    assert found["exported"]["ppl"] <= min(found["seeds"].values())
    assert (tmp_path / "main" / "search_progress.png").is_file()
    stage = planned_stages(recipe)[0][1]
    docs = search_documents(stage.search, load_tokenizer(ModelConfig(tokenizer="testbed")), found["length"])
    assert perplexity(model, docs) == pytest.approx(found["exported"]["ppl"], rel=1e-4)


def test_search_in_bfloat16_scores_a_copy_and_writes_the_weights_as_loaded(tmp_path, monkeypatch):
    from longft.recipe.schema import ModelConfig
    from longft.methods.longrope import stage as search_stage
    from longft.methods.longrope.stage import search_documents
    from longft.models import load_tokenizer
    from longft.pipeline import planned_stages, run_recipe

    recipe = load_recipe(
        "tiny-longrope-8x-zeroshot",
        {"output_dir": str(tmp_path), "eval": {"enabled": False}, "search": {"dtype": "bfloat16"}}, smoke=True,
    )
    scored_in = []

    class Spy(CandidateFitness):
        def __init__(self, model, *args, **kwargs):
            scored_in.append(model.dtype)
            super().__init__(model, *args, **kwargs)

    monkeypatch.setattr(search_stage, "CandidateFitness", Spy)
    result = run_recipe(recipe)
    assert scored_in == [torch.bfloat16]
    found = json.loads((tmp_path / "main" / FACTORS_FILE).read_text())
    model = AutoModelForCausalLM.from_pretrained(result["output"]).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    stage = planned_stages(recipe)[0][1]
    docs = search_documents(stage.search, load_tokenizer(ModelConfig(tokenizer="testbed")), found["length"])
    fp32_ppl = perplexity(model, docs)
    assert found["exported"]["ppl"] == pytest.approx(fp32_ppl, rel=0.05)  # scored in bf16: near, not exact


def test_scoring_copy_leaves_the_loaded_model_alone(make_model):
    from longft.methods.longrope.stage import scoring_copy

    model = make_model(window=32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = scoring_copy(model, "bfloat16")
    assert copy is not model and copy.dtype == torch.bfloat16 and model.dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert scoring_copy(model, "float32") is model


def test_short_factor_search_without_long_factors_fails_before_any_work(tmp_path):
    from longft.pipeline import run_recipe

    recipe = load_recipe("tiny-longrope-8x-zeroshot", {"output_dir": str(tmp_path), "search": {"length": 256}})
    with pytest.raises(RecipeError, match="short factors"):
        run_recipe(recipe)
    assert not any(tmp_path.iterdir())


def test_search_stage_refuses_a_position_method():
    with pytest.raises(RecipeError, match="search stage"):
        load_recipe("tiny-longrope-8x-zeroshot", {"position": {"method": "yarn", "factor": 8}})


def test_search_stage_resumes_when_interrupted_and_is_skipped_when_complete(tmp_path, monkeypatch, capsys):
    from longft.pipeline import run_recipe
    from longft.methods.longrope import fitness

    def recipe(out):
        overrides = {"output_dir": str(tmp_path / out), "eval": {"enabled": False}}
        return load_recipe("tiny-longrope-8x-zeroshot", overrides, smoke=True)

    run_recipe(recipe("whole"))
    original, calls = fitness.CandidateFitness.__call__, []

    def dies_in_generation_two(self, candidates):
        calls.append(len(candidates))
        if len(calls) == 3:  # generation 0, generation 1, then killed inside generation 2
            raise KeyboardInterrupt("killed")
        return original(self, candidates)

    monkeypatch.setattr(fitness.CandidateFitness, "__call__", dies_in_generation_two)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe("cut"))
    assert not (tmp_path / "cut" / "main" / "final").exists()
    monkeypatch.setattr(fitness.CandidateFitness, "__call__", original)
    capsys.readouterr()
    run_recipe(recipe("cut"))
    assert "resuming the search after generation 1" in capsys.readouterr().out
    whole = json.loads((tmp_path / "whole" / "main" / FACTORS_FILE).read_text())
    cut = json.loads((tmp_path / "cut" / "main" / FACTORS_FILE).read_text())
    assert cut["exported"] == whole["exported"] and cut["history"] == whole["history"]
    stamp = (tmp_path / "cut" / "main" / "final" / "config.json").stat().st_mtime_ns
    run_recipe(recipe("cut"))
    assert "[stage main] complete, skipping" in capsys.readouterr().out
    assert (tmp_path / "cut" / "main" / "final" / "config.json").stat().st_mtime_ns == stamp


def test_kv_cache_across_the_short_long_switch_is_what_the_readme_warns_about(make_model):
    """transformers picks short or long factors from the positions of each forward call: keys cached
    while the input was within the window keep their short-factor rotation after the switch."""
    window = 32
    base = make_model(window=window)
    model = plain_longrope_model(base, window, 4 * window, [4.0] * 8)
    model.config.rope_parameters["short_factor"] = [1.0] * 8
    ids = torch.randint(3, 300, (1, window + 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(ids).logits

        def continued(split):
            cache = model(ids[:, :split], use_cache=True).past_key_values
            return model(ids[:, split:], past_key_values=cache).logits

        assert not torch.allclose(continued(window), full[:, window:], atol=1e-4)  # prompt <= L: stale short keys
        assert torch.allclose(continued(window + 1), full[:, window + 1 :], atol=1e-5)  # prompt > L: consistent


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"search": {"length": 128}}, "shorter than the original window 256"),
        ({"search": {"parents": 30}}, "search.parents = 30: must be <= search.population"),
        ({"search": {"start_tokens": [-1]}}, "n̂ values are integers >= 0"),
        ({"search": {"mutations": 0, "crossovers": 0}}, "at least one child"),
        ({"kind": "serach"}, "did you mean 'search'"),
        ({"search": {"dtype": "fp16"}}, "search.dtype = 'fp16'"),
    ],
)
def test_bad_search_settings_fail_at_load(overrides, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe("tiny-longrope-8x-zeroshot", overrides)


def test_longft_search_runs_one_search_stage_on_the_recipes_model(tmp_path):
    from longft.cli import main

    out = tmp_path / "search"
    args = ["search", "tiny-longrope", "--smoke", "--search.length", "1024", "--eval.enabled", "false", "--output_dir", str(out)]
    assert main(args) == 0
    assert (out / "main").is_dir() and not (out / "search-4x").exists()  # the recipe's stages are set aside
    assert json.loads((out / "main" / FACTORS_FILE).read_text())["kind"] == "long"
    assert AutoModelForCausalLM.from_pretrained(str(out / "main" / "final")).config.rope_parameters["rope_type"] == "longrope"
