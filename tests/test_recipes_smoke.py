"""Every shipped recipe runs end to end in --smoke mode: same code path, tiny stand-in, few steps."""
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from longft.recipe.loading import recipe_names
from longft.validation import load_recipe
from longft.pipeline import planned_stages, run_recipe
from longft.smoke import smoke_recipe

pytestmark = pytest.mark.smoke


@pytest.mark.parametrize("name", [n for n in recipe_names()])
def test_recipe_runs_in_smoke_mode(name, tmp_path):
    recipe = load_recipe(name, {"output_dir": str(tmp_path / name)}, smoke=True)
    result = run_recipe(recipe)
    final = AutoModelForCausalLM.from_pretrained(result["output"])
    stage = planned_stages(recipe)[-1][1]
    if stage.position.method not in ("none", "rope_theta"):
        assert final.config.rope_parameters["rope_type"] == stage.position.method
    if recipe.eval.enabled:
        report = json.loads((tmp_path / name / "report" / "report.json").read_text())
        assert report["models"][-1]["fixed_target_ppl"]
        assert (tmp_path / name / "report" / "perplexity_by_length.png").is_file()


def test_finished_stages_are_skipped_on_rerun(tmp_path, capsys):
    recipe = load_recipe("yarn-128k", {"output_dir": str(tmp_path), "eval": {"enabled": False}}, smoke=True)
    run_recipe(recipe)
    finals = [tmp_path / name / "final" / "model.safetensors" for name in ("s1-64k", "s2-128k")]
    stamps = [f.stat().st_mtime_ns for f in finals]
    capsys.readouterr()
    run_recipe(recipe)
    out = capsys.readouterr().out
    assert "[stage s1-64k] complete, skipping" in out and "[stage s2-128k] complete, skipping" in out
    assert [f.stat().st_mtime_ns for f in finals] == stamps
    second = AutoModelForCausalLM.from_pretrained(str(tmp_path / "s2-128k" / "final"))
    assert second.config.rope_parameters["factor"] == 32  # stage 2 continued from stage 1 with its own factor


def smoke_sized(name, output_dir, **train):
    """A recipe already shrunk by --smoke, with its own step counts on top."""
    recipe = smoke_recipe(load_recipe(name))
    recipe.output_dir, recipe.eval.enabled = str(output_dir), False
    for key, value in train.items():
        setattr(recipe.train, key, value)
    return recipe


def test_bf16_mixed_trains_fp32_weights_with_bf16_compute(tmp_path):
    """train.precision bf16-mixed: the weights and the checkpoint stay fp32 while the matmuls run in
    bf16, so the result is near the fp32 run's and not equal to it."""
    from safetensors.torch import load_file

    weights = {}
    for precision in ("fp32", "bf16-mixed"):
        result = run_recipe(smoke_sized("tiny-pi-4x", tmp_path / precision, max_steps=2, precision=precision))
        weights[precision] = load_file(f"{result['output']}/model.safetensors")
    assert {w.dtype for w in weights["bf16-mixed"].values()} == {torch.float32}
    gaps = [(weights["bf16-mixed"][k] - w).abs().max().item() for k, w in weights["fp32"].items()]
    assert 0 < max(gaps) < 1e-2


def test_interrupted_stage_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    run_recipe(smoke_sized("tiny-pi-4x", tmp_path / "whole", max_steps=4, save_steps=2))

    from longft.train import callbacks

    original = callbacks.ThroughputCallback.on_step_end

    def die_after_step_3(self, args, state, control, **kwargs):
        original(self, args, state, control, **kwargs)
        if state.global_step == 3:
            raise KeyboardInterrupt("killed")

    cut = smoke_sized("tiny-pi-4x", tmp_path / "cut", max_steps=4, save_steps=2)
    monkeypatch.setattr(callbacks.ThroughputCallback, "on_step_end", die_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(cut)
    assert not (tmp_path / "cut" / "main" / "final").exists()
    assert (tmp_path / "cut" / "main" / "checkpoints" / "checkpoint-2").is_dir()
    monkeypatch.setattr(callbacks.ThroughputCallback, "on_step_end", original)
    run_recipe(cut)
    a = AutoModelForCausalLM.from_pretrained(str(tmp_path / "whole" / "main" / "final")).state_dict()
    b = AutoModelForCausalLM.from_pretrained(str(tmp_path / "cut" / "main" / "final")).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
