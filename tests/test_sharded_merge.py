"""LoRA merge after sharded training (DeepSpeed ZeRO-3; FSDP2 hands over the same gathered state dict).

The in-memory PEFT model holds only shards there, so the export rebuilds it from the gathered full
weights and lets peft merge. In process: the rebuilt merge equals peft's own merge of the same
model. On the CPU with two processes: a LoRA + S²-Attn recipe trained under ZeRO-3 exports the
merged weights of the same recipe trained under DDP.
"""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from longft.export import merge_gathered_adapters

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("tied", [False, True])
def test_merge_from_gathered_weights_equals_peft_merge(tied):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    saved = ["norm"] if tied else ["embed_tokens", "norm"]
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                                modules_to_save=saved, task_type="CAUSAL_LM"))
    for name, p in model.named_parameters():
        if "lora_B" in name or "modules_to_save" in name:
            p.data.normal_()  # trained-looking adapters, so the merge changes the weights
    gathered = {k: v.clone() for k, v in model.state_dict().items()}
    merged = merge_gathered_adapters(model, gathered)
    reference = copy.deepcopy(model).merge_and_unload()
    a, b = merged.state_dict(), reference.state_dict()
    assert sorted(a) == sorted(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k for k in a if "lora" in k or "modules_to_save" in k)
    x = torch.randint(0, 100, (1, 12))
    assert torch.equal(merged(x).logits, reference(x).logits)


def launch(run: Path, port: int, *extra: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file",
           str(ROOT / "accelerate_configs" / "cpu_gloo.yaml"), "--main_process_port", str(port), "-m", "longft", "train",
           "tiny-longlora", "--smoke", "--eval.enabled", "false", "--output_dir", str(run), *extra]
    return subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600)


@pytest.mark.smoke
def test_lora_trained_under_zero3_exports_the_ddp_merge(tmp_path):
    from safetensors.torch import load_file

    ddp = launch(tmp_path / "ddp", 29661)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    config = json.loads((ROOT / "accelerate_configs" / "deepspeed_zero3.json").read_text())
    config["zero_optimization"]["stage3_param_persistence_threshold"] = 0  # partition even the tiny model's norms
    (tmp_path / "zero3.json").write_text(json.dumps(config))
    zero3 = launch(tmp_path / "zero3", 29662, "--train.deepspeed", str(tmp_path / "zero3.json"))
    assert zero3.returncode == 0, zero3.stderr[-3000:]
    a = load_file(tmp_path / "ddp" / "main" / "final" / "model.safetensors")
    b = load_file(tmp_path / "zero3" / "main" / "final" / "model.safetensors")
    start = load_file(tmp_path / "ddp" / "initial" / "model.safetensors")
    assert sorted(a) == sorted(b) and not any("lora" in k for k in b)
    moved = max((a[k] - start[k]).abs().max().item() for k in start)
    assert moved > 1e-4
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-3 * moved
