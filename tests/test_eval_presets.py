"""`longft eval CHECKPOINT` without --recipe: the window and target come from the checkpoint's config,
a testbed checkpoint gets the testbed's settings, any other model a pretrained model's (generation
scoring, RULER's own templates, the English passkey prompt, its chat template where it has one), and
the printout and the report say which."""
from __future__ import annotations

import copy
import json

import pytest

from longft.eval.presets import REAL_MODEL_RECIPE, TESTBED_RECIPE, default_target, is_testbed, settings_for
from longft.validation import load_recipe

from conftest import tiny_llama

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def pretrained_like(tmp_path_factory, tokenizer):
    """Not the testbed: another vocabulary, YaRN x4 from a 64-token window, a tokenizer with a chat template."""
    folder = tmp_path_factory.mktemp("pretrained") / "model"
    tiny_llama(vocab_size=len(tokenizer) + 64, rope_type="yarn", factor=4.0,
               original_max_position_embeddings=64).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = 256
    (folder / "config.json").write_text(json.dumps(config))
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = CHATML
    chat.save_pretrained(folder)
    return folder


def test_a_testbed_checkpoint_gets_the_testbeds_settings_and_twice_an_unscaled_window(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    assert is_testbed(config)
    chosen = settings_for(checkpoint, {}, None)
    assert TESTBED_RECIPE in chosen.name and chosen.target == 2 * config["max_position_embeddings"]
    ev = load_recipe(chosen.recipe, chosen.overrides).eval
    assert ev.ruler_scoring == "loglik" and not ev.chat_template
    assert settings_for(checkpoint, {}, 512).target == 512  # --target wins


def test_a_pretrained_model_gets_generation_scoring_its_templates_and_its_served_length(pretrained_like):
    config = json.loads((pretrained_like / "config.json").read_text())
    assert not is_testbed(config) and default_target(config) == 256
    chosen = settings_for(pretrained_like, {"eval": {"passkey_trials": 1}}, None)
    ev = load_recipe(chosen.recipe, chosen.overrides).eval
    assert REAL_MODEL_RECIPE in chosen.name and "chat template" in chosen.name and chosen.target == 256
    assert (ev.ruler_scoring, ev.ruler_template, ev.passkey_template) == ("generation", "ruler", "landmark")
    assert ev.chat_template and ev.passkey_trials == 1  # the user's overrides on top
    assert all(s["type"] == "text_dir" and s.get("join_chars") for s in ev.sources)


def test_longft_eval_without_a_recipe_says_which_settings_it_used(pretrained_like, tmp_path, capsys):
    from longft.cli import main

    out = tmp_path / "report"
    code = main(["eval", str(pretrained_like), "--out", str(out), "--eval.num_docs", "1",
                 "--eval.passkey_depths", "[0.5]", "--eval.passkey_trials", "1", "--eval.passkey_lengths", "[256]"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "a pretrained model's" in printed and "original window 64, target 256" in printed
    report = json.loads((out / "report.json").read_text())
    assert (report["original_window"], report["target_length"]) == (64, 256)
    assert "chat template on" in report["prompts"] and "generation scoring" in report["prompts"]
    passkey = report["models"][-1]["passkey"]
    assert passkey["template"] == "landmark" and passkey["chat_template"]


def test_joined_text_dir_documents_reach_the_length_asked(tmp_path):
    from longft.data.sources import load_documents

    for k in range(7):
        (tmp_path / f"{k}.txt").write_text(f"file {k} " + "x" * 40)
    docs = list(load_documents([{"type": "text_dir", "path": str(tmp_path), "join_chars": 100}])["text"])
    assert len(docs) == 2 and all(len(d) >= 100 for d in docs)
    assert "".join(docs).count("file ") == 7 and docs[0].index("file 0") < docs[0].index("file 1")


def test_join_chars_must_be_a_positive_whole_number(tmp_path):
    from longft.errors import RecipeError
    from longft.validation import load_recipe

    with pytest.raises(RecipeError, match="join_chars"):
        load_recipe(REAL_MODEL_RECIPE, {"eval": {"sources": [{"type": "text_dir", "path": str(tmp_path),
                                                              "join_chars": 0}]}})


def test_eval_dtype_loads_the_weights_in_it_and_a_bad_one_fails_naming_the_choices(pretrained_like):
    import torch

    from longft.errors import RecipeError
    from longft.eval.run import load_for_eval, zero_shot_model

    assert next(load_for_eval(str(pretrained_like), dtype="bfloat16").parameters()).dtype == torch.bfloat16
    assert next(load_for_eval(str(pretrained_like)).parameters()).dtype == torch.float32
    model, _ = zero_shot_model(str(pretrained_like), "yarn", 64, 256, dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    assert load_recipe("smollm2-yarn-16k").eval.dtype == "auto"  # bfloat16 where native: tests/test_precision.py
    with pytest.raises(RecipeError, match=r"eval.dtype.*'float16'.*bfloat16"):
        load_recipe("tiny-yarn-4x", {"eval": {"dtype": "float16"}})
