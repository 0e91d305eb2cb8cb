"""What every reader of an export finds in it: rope in both forms, the lengths engines take the served
context from, and the notes on what engines do differently from transformers."""
import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from longft.attention.method import CONFIG_KEY
from longft.cli import main
from longft.export import EXPORT_NOTES_FILE
from longft.methods.engine_notes import export_for_serving
from longft.methods.registry import ATTENTION_METHODS
from longft.positions.methods import POSITION_METHODS
from longft.positions.rope import apply_position_method
from longft.recipe.schema import AttentionConfig, PositionConfig

WINDOW, TARGET = 32, 128
LONGROPE = {"short_factor": [1.0 + i / 8 for i in range(8)], "long_factor": [2.0 + i for i in range(8)]}
POSITIONS = {
    "none": PositionConfig(method="none"),
    "linear": PositionConfig(method="linear", factor=4),
    "dynamic": PositionConfig(method="dynamic", factor=4),
    "yarn": PositionConfig(method="yarn", factor=4),
    "llama3": PositionConfig(method="llama3", factor=4),
    "rope_theta": PositionConfig(method="rope_theta", rope_theta=500000.0),
    "longrope": PositionConfig(method="longrope", params=LONGROPE),
}
# where each method's export is meant to serve up to, and its max_position_embeddings
SERVES = {"none": WINDOW, "linear": TARGET, "dynamic": TARGET, "yarn": TARGET, "llama3": TARGET,
          "rope_theta": TARGET, "longrope": TARGET}
MAX_POSITIONS = {**SERVES, "dynamic": WINDOW}  # dynamic NTK's scaling starts past max_position_embeddings
WARNED = {"dynamic": "dynamic NTK is not portable", "longrope": "short factors are chosen per forward call only by transformers"}


def test_every_position_method_is_covered():
    assert set(POSITIONS) == set(POSITION_METHODS)


def scaled_model(make_model, tokenizer, method):
    base = make_model(vocab_size=len(tokenizer), window=WINDOW)
    config = base.config
    apply_position_method(config, POSITIONS[method], TARGET)
    config.use_cache = False  # as training leaves it
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    model.load_state_dict(base.state_dict())
    return model.eval()


@pytest.mark.parametrize("method", list(POSITIONS))
def test_export_carries_rope_in_both_forms_and_the_served_length(make_model, tokenizer, tmp_path, method):
    model = scaled_model(make_model, tokenizer, method)
    out = tmp_path / "export"
    export_for_serving(model, tokenizer, out)
    saved = json.loads((out / "config.json").read_text())
    rope = saved["rope_parameters"]
    if rope["rope_type"] == "default":
        assert saved["rope_scaling"] is None  # legacy readers: no rope_scaling means unscaled
    else:
        assert saved["rope_scaling"] == rope
    assert saved["rope_theta"] == rope["rope_theta"]
    assert saved["use_cache"] is True
    assert saved["max_position_embeddings"] == MAX_POSITIONS[method]
    if method in ("llama3", "longrope"):  # llama.cpp's converter reads the window from the top level
        assert saved["original_max_position_embeddings"] == WINDOW
    else:
        assert "original_max_position_embeddings" not in saved
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == SERVES[method]
    # transformers 5 reads the doubled form back to the very same rope_parameters
    assert AutoConfig.from_pretrained(str(out)).rope_parameters == model.config.rope_parameters
    notes = json.loads((out / EXPORT_NOTES_FILE).read_text())
    assert notes["serving_length"] == SERVES[method]
    # a new rope_theta leaves a plain RoPE model, which keeps no trace of its old window
    assert notes["original_window"] == (TARGET if method == "rope_theta" else WINDOW)
    if method in WARNED:
        assert len(notes["warnings"]) == 1 and WARNED[method] in notes["warnings"][0]
    else:
        assert notes["warnings"] == []
    ids = torch.randint(3, len(tokenizer), (1, TARGET))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, AutoModelForCausalLM.from_pretrained(str(out))(ids).logits)


INFERENCE_ATTENTION = {
    "logn": ({"base": WINDOW}, "without the max(1, log n / log 32) logit scale"),
    "window": ({"window": 8}, "not the 8-token window"),
    "hybrid": ({"window": 8, "full_layers": 1, "logn_base": WINDOW}, "not the last 1 layers' full attention"),
    "fot": ({"memory_layers": [1], "window": WINDOW}, "retrieval from the cache of earlier windows"),
    "landmark": ({"mem_freq": 7, "top_k": 2}, "retrieval of the top 2 blocks of 7 tokens"),
    "sinks": ({"sinks": 4, "window": 12}, "not 4 sink tokens plus the last 12"),
}


def test_every_inference_attention_method_has_a_note():
    assert {name for name, m in ATTENTION_METHODS.items() if m.settings} == set(INFERENCE_ATTENTION)


@pytest.mark.parametrize("method", list(INFERENCE_ATTENTION))
def test_inference_attention_methods_say_what_plain_engines_lose(make_model, tokenizer, tmp_path, method):
    params, said = INFERENCE_ATTENTION[method]
    model = make_model(vocab_size=len(tokenizer), window=WINDOW)
    setattr(model.config, CONFIG_KEY, ATTENTION_METHODS[method].settings(AttentionConfig(method=method, params=params), WINDOW))
    notes = export_for_serving(model, tokenizer, tmp_path / "export")
    assert len(notes) == 1 and said in notes[0]
    assert json.loads((tmp_path / "export" / EXPORT_NOTES_FILE).read_text())["warnings"] == notes


def test_longrope_note_names_llama_cpp_for_a_llama_only():
    from longft.positions.methods import longrope

    config = {"model_type": "llama", "rope_parameters": {"rope_type": "longrope", "original_max_position_embeddings": 256}}
    assert "only for Phi-3-family models" in longrope.engine_note(config)
    assert "Phi-3" not in longrope.engine_note({**config, "model_type": "phi3"})


def test_dynamic_as_fixed_writes_the_base_dynamic_ntk_reaches_at_the_target(make_model, tokenizer, tmp_path, capsys):
    model = scaled_model(make_model, tokenizer, "dynamic")
    src = tmp_path / "dynamic"
    model.save_pretrained(src)
    tokenizer.save_pretrained(src)
    assert main(["export", str(src), str(tmp_path / "fixed"), "--dynamic-as-fixed"]) == 0
    fixed = AutoModelForCausalLM.from_pretrained(str(tmp_path / "fixed")).eval()
    assert fixed.config.rope_parameters["rope_type"] == "default"
    assert fixed.config.max_position_embeddings == TARGET
    notes = json.loads((tmp_path / "fixed" / EXPORT_NOTES_FILE).read_text())
    assert notes["warnings"] == [] and notes["serving_length"] == TARGET
    measured = {row["tokens"]: row for row in notes["dynamic_as_fixed"]["perplexity"]}
    assert sorted(measured) == [WINDOW * 3 // 4, WINDOW, 2 * WINDOW, TARGET]
    # the same model at the target; inside the window the original base against the fixed one
    assert measured[TARGET]["dynamic"] == pytest.approx(measured[TARGET]["fixed"], abs=1e-3)
    assert abs(measured[WINDOW]["dynamic"] - measured[WINDOW]["fixed"]) > 1e-3
    ids = torch.randint(3, len(tokenizer), (1, TARGET))
    short = ids[:, : WINDOW // 2]
    with torch.no_grad():
        # at the target length transformers' dynamic base is exactly the fixed one ...
        assert torch.allclose(model(ids).logits, fixed(ids).logits, atol=1e-5)
        # ... inside the window dynamic NTK keeps the original base, which the fixed form gives up
        assert not torch.allclose(model(short).logits, fixed(short).logits, atol=1e-4)
    printed = capsys.readouterr().out
    assert "plain RoPE with base" in printed and "dynamic NTK against its fixed-base export" in printed


def test_dynamic_as_fixed_refuses_another_rope_type(make_model, tokenizer, tmp_path, capsys):
    model = scaled_model(make_model, tokenizer, "yarn")
    model.save_pretrained(tmp_path / "yarn")
    tokenizer.save_pretrained(tmp_path / "yarn")
    capsys.readouterr()
    assert main(["export", str(tmp_path / "yarn"), str(tmp_path / "out"), "--dynamic-as-fixed"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rope_type 'yarn'" in err[0] and "'dynamic' only" in err[0]
    assert not (tmp_path / "out").exists()
