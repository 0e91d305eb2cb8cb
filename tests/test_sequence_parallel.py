"""Sequence parallelism (DeepSpeed Ulysses) on the CPU with two processes over gloo.

The layout: DeepSpeed's UlyssesSPAttentionHF around longft's attention functions, on packed rows
whose documents cross the shard boundary, gives the loss and gradients of one process on the
whole batch, for full attention and S²-Attn, with key/value heads split and replicated; two
controls (boundaries dropped, S²'s head rule on local heads) show the comparison notices.
End to end: `accelerate launch` of a LoRA + S²-Attn recipe at SP = 2 ends with the weights of the
same recipe at SP = 1; with gradient accumulation over packs that score different numbers of tokens,
and with two sequence-parallel groups side by side (SP = 2 x DP = 2), every token of an optimizer
step weighs alike, as in one process; the tiled MLP inside it trains the same weights.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from longft.attention.boundaries import cu_seq_lens
from longft.data.collator import PackedCollator
from longft.errors import RecipeError
from longft.train.sequence_parallel import check_heads, check_launch, parallelism_config

ROOT = Path(__file__).resolve().parent.parent
ZERO1 = str(ROOT / "accelerate_configs" / "deepspeed_zero1.json")
BIN = Path(sys.executable).parent


def test_ulysses_layout_with_packed_documents_equals_one_process():
    cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", "29651", str(ROOT / "tests" / "sp_layout_worker.py")]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = {r["case"]: r for r in map(json.loads, (line for line in done.stdout.splitlines() if line.startswith("{")))}
    assert set(results) == {"full-segments", "full-dense", "full-kv-replicated", "s2", "s2-kv-replicated",
                            "qwen3-full", "qwen3-s2", "qwen3_moe-full", "qwen3_moe-s2",
                            "control-no-boundaries", "control-s2-local-heads"}
    for case, r in results.items():
        if case.startswith("control"):
            assert r["loss_diff"] > 1e-4 and r["grad_diff"] > 1e-3 * r["grad_scale"], r
        else:
            assert r["loss_diff"] < 1e-5 and r["grad_diff"] < 1e-5 * r["grad_scale"] * 100, r


def launch(run: Path, port: int, processes: int, *extra: str, recipe: str = "tiny-longlora") -> subprocess.CompletedProcess:
    train = [recipe] if recipe.endswith(".yaml") else [recipe, "--smoke", "--eval.enabled", "false"]
    cmd = [str(BIN / "accelerate"), "launch", "--config_file", str(ROOT / "accelerate_configs" / "cpu_gloo.yaml"),
           "--num_processes", str(processes), "--main_process_port", str(port), "-m", "longft", "train", *train,
           "--output_dir", str(run), *extra]
    return subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600)


def final_weights_agree(a_run: Path, b_run: Path) -> None:
    """b ends with a's weights, to within 1e-3 of how far training moved them."""
    from safetensors.torch import load_file

    a = load_file(a_run / "main" / "final" / "model.safetensors")
    b = load_file(b_run / "main" / "final" / "model.safetensors")
    start = load_file(a_run / "initial" / "model.safetensors")
    assert sorted(a) == sorted(b)
    moved = max((a[k] - start[k]).abs().max().item() for k in start)
    assert moved > 1e-4  # training changed the weights, so equality below says something
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-3 * moved


# Short documents packed whole, so packs hold different numbers of scored tokens (padding, and
# each document's first token unscored): a per-micro-batch mean would weigh them differently.
PADDED_PACKS = """\
extends: tiny-longlora
model:
  name_or_path: standin
  init: scratch
  tokenizer: testbed
  arch: {hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4,
         num_key_value_heads: 2, tie_word_embeddings: true, max_position_embeddings: 64}
position: {original_max_position_embeddings: 64}
data:
  sources: [{type: testbed, split: train, max_files: 400}]
  seq_len: 256
  split_policy: drop
  min_doc_tokens: 2
  max_train_tokens: 30000
  num_proc: 1
train: {max_steps: 3, batch_size: 1, grad_accum: 2, save_steps: 1, logging_steps: 1, warmup_steps: 1, precision: fp32}
eval: {enabled: false}
"""


@pytest.mark.smoke
def test_accumulated_steps_weigh_every_token_alike_under_sp(tmp_path):
    recipe = tmp_path / "padded-packs.yaml"
    recipe.write_text(PADDED_PACKS)
    runs = {
        # name: (processes, extra arguments); the first three step over 2 packs, the last two over 4
        "one": (1, ()),
        "sp2": (2, ("--train.sequence_parallel", "2")),
        "sp2-tiled-mlp": (2, ("--train.sequence_parallel", "2", "--train.tiled_mlp", "true")),
        "one-ga4": (1, ("--train.grad_accum", "4")),
        "sp2-dp2": (4, ("--train.sequence_parallel", "2")),
    }
    for port, (name, (processes, extra)) in enumerate(runs.items(), start=29654):
        done = launch(tmp_path / name, port, processes, "--train.deepspeed", ZERO1, *extra, recipe=str(recipe))
        assert done.returncode == 0, done.stderr[-3000:]
    final_weights_agree(tmp_path / "one", tmp_path / "sp2")
    final_weights_agree(tmp_path / "one", tmp_path / "sp2-tiled-mlp")  # DeepSpeed's TiledMLP inside Ulysses
    final_weights_agree(tmp_path / "one-ga4", tmp_path / "sp2-dp2")


@pytest.mark.smoke
def test_two_rank_sequence_parallel_training_ends_with_the_one_rank_weights(tmp_path):
    one = launch(tmp_path / "sp1", 29652, 1, "--train.deepspeed", ZERO1)
    assert one.returncode == 0, one.stderr[-3000:]
    two = launch(tmp_path / "sp2", 29653, 2, "--train.deepspeed", ZERO1, "--train.sequence_parallel", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    final_weights_agree(tmp_path / "sp1", tmp_path / "sp2")
    s1 = json.loads((tmp_path / "sp1" / "main" / "train_summary.json").read_text())
    s2 = json.loads((tmp_path / "sp2" / "main" / "train_summary.json").read_text())
    assert s1["steps"] == s2["steps"] and s1["train_loss"] == pytest.approx(s2["train_loss"], rel=1e-5)


@pytest.mark.parametrize("heads,kv,degree,ok", [
    (32, 8, 8, True), (32, 8, 16, True), (32, 8, 32, True),  # kv heads replicated past 8
    (32, 8, 64, False), (32, 8, 3, False), (12, 4, 8, False), (28, 4, 7, False),
])
def test_degree_against_heads(heads, kv, degree, ok):
    from transformers import LlamaConfig

    config = LlamaConfig(num_attention_heads=heads, num_key_value_heads=kv, hidden_size=heads * 8)
    if ok:
        check_heads(degree, config)
    else:
        with pytest.raises(RecipeError, match=f"train.sequence_parallel = {degree}"):
            check_heads(degree, config)


def test_launch_checks(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "6")
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    check_launch(1, None, "stage main")  # no SP: nothing to check
    with pytest.raises(RecipeError, match="runs on DeepSpeed"):
        check_launch(2, None, "stage main")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # a DeepSpeed accelerate config
    check_launch(2, None, "stage main")
    check_launch(3, ZERO1, "stage main")
    with pytest.raises(RecipeError, match="multiple of 4 processes; this one has 6"):
        check_launch(4, ZERO1, "stage main")


def test_parallelism_config_names_longfts_attention():
    pc = parallelism_config(4, "longft_s2attn")
    assert pc.sp_size == 4 and pc.sp_backend == "deepspeed"
    assert pc.sp_handler.sp_attn_implementation == "longft_s2attn"
    assert parallelism_config(1, "longft_s2attn") is None


def test_parallelism_config_counts_the_groups(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert parallelism_config(2, "longft_s2attn").data_parallel_size == 4  # DeepSpeed's global batch is sized by it


def test_boundaries_travel_whole_as_lists_under_sp():
    features = [{"input_ids": list(range(10)), "doc_lens": [4, 6]}, {"input_ids": list(range(7)), "doc_lens": [7]}]
    plain = PackedCollator(10, 0)(features)
    listed = PackedCollator(10, 0, boundaries_as_lists=True)(features)
    assert isinstance(listed["cu_seq_lens_q"], list) and torch.is_tensor(plain["cu_seq_lens_q"])
    assert listed["cu_seq_lens_q"] == plain["cu_seq_lens_q"].tolist() == [0, 4, 10, 17, 20]
    assert torch.equal(cu_seq_lens(listed), plain["cu_seq_lens_q"])
