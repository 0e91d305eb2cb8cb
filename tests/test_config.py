"""Recipes: composition, overrides, and at least ten bad inputs that fail early and say why."""
import json

import pytest

from longft.cli import main
from longft.errors import RecipeError
from longft.recipe.loading import recipe_names
from longft.validation import load_recipe, stage_recipes
from longft.recipe.parsing import parse_overrides
from longft.pipeline import planned_stages, preflight


def test_every_shipped_recipe_loads():
    names = recipe_names()
    assert {"tiny-yarn-4x", "pi-32k", "yarn-64k", "yarn-128k", "testbed-base"} <= set(names)
    for name in names:
        assert load_recipe(name).name == name


def test_extends_composes_and_overrides_win():
    r = load_recipe("tiny-yarn-8x", parse_overrides(["--train.max_steps", "7", "--position.factor=16"]))
    assert r.model.name_or_path == "testbed"  # from _testbed
    assert r.data.seq_len == 2048  # from tiny-yarn-8x
    assert r.train.max_steps == 7 and r.position.factor == 16.0


def test_stages_inherit_top_level_and_override():
    stages = stage_recipes(load_recipe("yarn-128k"))
    assert [n for n, _ in stages] == ["s1-64k", "s2-128k"]
    assert stages[0][1].position.factor == 16 and stages[1][1].position.factor == 32
    assert stages[1][1].data.seq_len == 131072 and stages[1][1].train.learning_rate == 2e-5


BAD_OVERRIDES = [
    (["--trian.max_steps", "3"], "unknown key 'trian'", "train"),
    (["--train.max_step", "3"], "unknown key 'train.max_step'", "max_steps"),
    (["--train.max_steps", "many"], "train.max_steps = 'many'", "integer"),
    (["--train.learning_rate", "3"], "train.learning_rate = 3.0", "(0, 1)"),
    (["--position.method", "yran"], "position.method = 'yran'", "'yarn'"),
    (["--position.factor", "0.5"], "position.factor = 0.5", "> 1"),
    (["--data.split_policy", "wrap"], "data.split_policy = 'wrap'", "chunk, truncate, drop"),
    (["--data.seq_len", "4096"], "data.seq_len = 4096", "factor to at least 16"),
    (["--data.sources", "[{type: csv, path: x.csv}]"], "data.sources[0].type = 'csv'", "jsonl"),
    (["--data.sources", "[{type: jsonl}]"], "needs a 'path'", "jsonl"),
    (["--eval.passkey_depths", "[0.5, 1.5]"], "1.5", "[0, 1]"),
    (["--train.gradient_checkpointing", "maybe"], "train.gradient_checkpointing = 'maybe'", "true or false"),
    (["--train.loss_chunk_tokens", "0"], "train.loss_chunk_tokens = 0", ">= 1"),
    (["--stages", "[{position: {factor: 8}}]"], "stages[0]", "'name'"),
    (["--train.lr_scheduler", "warmup_stable_decay"], "train.decay_steps = 0", "max_steps - warmup_steps"),
    (["--train.decay_steps", "10"], "train.decay_steps = 10", "'warmup_stable_decay'"),
]


@pytest.mark.parametrize("args,names_value,names_valid", BAD_OVERRIDES)
def test_bad_override_fails_naming_value_and_valid_choices(args, names_value, names_valid):
    with pytest.raises(RecipeError) as err:
        load_recipe("tiny-yarn-4x", parse_overrides(args))
    assert names_value in str(err.value) and names_valid in str(err.value)


def test_unknown_recipe_suggests_close_names():
    with pytest.raises(RecipeError, match="tiny-yarn-4x"):
        load_recipe("tiny-yarn-4")


def test_missing_data_file_fails_before_work(tmp_path):
    recipe = load_recipe(
        "tiny-yarn-4x",
        {"data": {"sources": [{"type": "jsonl", "path": str(tmp_path / "nope.jsonl")}]}, "output_dir": str(tmp_path / "o")},
    )
    with pytest.raises(RecipeError, match="nope.jsonl.*does not exist"):
        preflight(recipe, planned_stages(recipe))
    assert not (tmp_path / "o").exists()


def test_text_dir_without_matching_files_fails(tmp_path):
    (tmp_path / "d").mkdir()
    recipe = load_recipe("tiny-yarn-4x", {"data": {"sources": [{"type": "text_dir", "path": str(tmp_path / "d")}]}})
    with pytest.raises(RecipeError, match="no files match"):
        preflight(recipe, planned_stages(recipe))


def test_model_not_available_offline_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = load_recipe("pi-32k", {"output_dir": str(tmp_path / "o")})
    (tmp_path / "data").mkdir()
    with pytest.raises(RecipeError) as err:
        preflight(recipe, planned_stages(recipe))
    msg = str(err.value)
    assert ("'dwzhu/PoSE-Datasets'" in msg and "HF_DATASETS_OFFLINE" in msg) or (
        "--model.name_or_path" in msg and "--smoke" in msg)


def test_model_not_available_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"text": "hello world"}) + "\n")
    recipe = load_recipe(
        "pi-32k",
        {"data": {"sources": [{"type": "jsonl", "path": str(docs)}]}, "eval": {"sources": [{"type": "jsonl", "path": str(docs)}]}},
    )
    with pytest.raises(RecipeError, match="meta-llama/Llama-2-7b-hf.*not available offline.*--model.name_or_path"):
        preflight(recipe, planned_stages(recipe))


def test_unsupported_model_type_fails(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path / "gpt2")
    recipe = load_recipe("tiny-yarn-4x", {"model": {"name_or_path": str(tmp_path / "gpt2")}})
    with pytest.raises(RecipeError, match="model type 'gpt2'.*supported types: llama"):
        preflight(recipe, planned_stages(recipe))


def test_cli_reports_errors_without_traceback(capsys):
    assert main(["train", "tiny-yarn-4x", "--train.warmup_steps", "-1"]) == 2
    err = capsys.readouterr().err
    assert "train.warmup_steps = -1" in err and "Traceback" not in err
    assert main(["fly"]) == 2
    assert "valid commands" in capsys.readouterr().err


def test_foreign_finished_stage_is_not_overwritten(tmp_path):
    recipe = load_recipe("tiny-yarn-4x", {"output_dir": str(tmp_path)})
    stages = planned_stages(recipe)
    final = tmp_path / stages[0][0] / "final"
    final.mkdir(parents=True)
    (final / "longft_stage.json").write_text(json.dumps({"fingerprint": "someone-else"}))
    (final / "model.safetensors").write_text("precious")
    with pytest.raises(RecipeError, match="different recipe"):
        preflight(recipe, stages)
    assert (final / "model.safetensors").read_text() == "precious"


def test_exponent_without_dot_is_a_number():
    """YAML 1.1 reads 3e-4 as a string; the schema still takes it as the number it is."""
    assert load_recipe("tiny-yarn-4x", parse_overrides(["--train.learning_rate", "3e-4"])).train.learning_rate == 3e-4


def trainer_schedule(stage, tmp_path):
    """The optimizer (one parameter) and learning-rate schedule the Trainer builds from a stage's
    training arguments."""
    import torch
    from transformers.optimization import get_scheduler

    from longft.train.trainer import training_arguments

    args = training_arguments(stage, tmp_path)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.learning_rate)
    return optimizer, get_scheduler(args.lr_scheduler_type, optimizer, args.warmup_steps, args.max_steps,
                                    scheduler_specific_kwargs=args.lr_scheduler_kwargs)


@pytest.mark.parametrize("name", [n for n in recipe_names() if n.startswith("smollm2-")])
def test_every_step_of_the_short_real_model_recipes_trains(name, tmp_path):
    """A 2-step recipe with a warmup step would spend its first step at lr 0: half its training."""
    for _, stage in stage_recipes(load_recipe(name, {"output_dir": str(tmp_path / "o")})):
        _, schedule = trainer_schedule(stage, tmp_path)
        first = schedule.get_last_lr()[0]  # the lr of the first optimizer step
        assert first == stage.train.learning_rate, (name, first)


def test_warmup_stable_decay_holds_the_peak_then_decays_over_the_last_steps(tmp_path):
    """The schedule a late-forming skill needs: the peak lr until max_steps - decay_steps, then down to 0."""
    recipe = load_recipe("tiny-yarn-4x", parse_overrides([
        "--train.max_steps", "100", "--train.warmup_steps", "10", "--train.learning_rate", "1e-3",
        "--train.lr_scheduler", "warmup_stable_decay", "--train.decay_steps", "30",
    ]))
    optimizer, schedule = trainer_schedule(recipe, tmp_path)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] < lrs[9] < 1e-3  # warming up
    assert all(lr == 1e-3 for lr in lrs[10:70])  # stable until the last 30 steps
    assert all(a > b for a, b in zip(lrs[70:], lrs[71:]))  # then falling
    assert lrs[-1] < 1e-5
