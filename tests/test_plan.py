"""`longft plan`: parameter counts equal the real models', ZeRO stages and SP divide the right terms,
the choice is the smallest degree then stage that fits, bad input fails early."""
from types import SimpleNamespace

import pytest

from longft.cli import main
from longft.plan.architecture import Architecture
from longft.plan.fit import plan, valid_degrees
from longft.plan.memory import Setup, estimate, fits, parameter_counts
from longft.recipe.schema import AdapterConfig, DataConfig, TrainConfig

FIELDS = dict(vocab_size=1000, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=8,
              num_key_value_heads=2, tie_word_embeddings=False)


def recipe(seq_len=4096, adapter=None, **train):
    return SimpleNamespace(train=TrainConfig(**{"precision": "bf16", **train}), data=DataConfig(seq_len=seq_len),
                           adapter=adapter or AdapterConfig(method="none"))


@pytest.mark.parametrize("tied", [False, True])
def test_parameter_counts_equal_the_models(tied):
    from transformers import LlamaConfig, LlamaForCausalLM

    fields = {**FIELDS, "tie_word_embeddings": tied}
    arch = Architecture.from_fields(fields, "test")
    model = LlamaForCausalLM(LlamaConfig(**fields))
    held, trained = parameter_counts(arch, AdapterConfig(method="none"))
    assert held == trained == sum(p.numel() for p in model.parameters())


def test_lora_counts_equal_peft():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    adapter = AdapterConfig(method="lora", r=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                            trainable_params=["embed", "norm"])
    model = get_peft_model(LlamaForCausalLM(LlamaConfig(**FIELDS)), LoraConfig(
        r=4, target_modules=list(adapter.target_modules), modules_to_save=["embed_tokens", "input_layernorm",
                                                                           "post_attention_layernorm", "norm"]))
    held, trained = parameter_counts(Architecture.from_fields(FIELDS, "test"), adapter)
    assert trained == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert held == sum(p.numel() for p in model.parameters())


def test_zero_stages_and_sp_divide_their_terms():
    arch = Architecture.from_fields(FIELDS, "test")
    r = recipe(gradient_checkpointing=True, loss_chunk_tokens=512)
    base = estimate(arch, r, Setup(gpus=8))
    z1, z2, z3 = (estimate(arch, r, Setup(gpus=8, zero=z)) for z in (1, 2, 3))
    assert z1["optimizer"] == base["optimizer"] / 8 and z1["gradients"] == base["gradients"]
    assert z2["gradients"] == base["gradients"] / 8 and z2["weights"] == base["weights"]
    assert z3["weights"] == base["weights"] / 8
    sp2 = estimate(arch, r, Setup(gpus=8, sp=2))
    assert sp2["activations"] == base["activations"] / 2
    assert base["optimizer"] == 12 * parameter_counts(arch, r.adapter)[1]  # fp32 master, m, v
    plain = estimate(arch, recipe(), Setup(gpus=1))
    assert plain["logits"] > 4 * estimate(arch, recipe(loss_chunk_tokens=512), Setup(gpus=1))["logits"]


def test_choice_is_the_smallest_degree_then_stage_that_fits():
    arch = Architecture.from_fields(FIELDS, "test")
    r = recipe(seq_len=65536, gradient_checkpointing=True, loss_chunk_tokens=1024)
    rows, chosen = plan(arch, r, gpus=8, gpu_gib=2.1)
    fitting = [s for s, terms in rows if fits(terms, 2.1)]
    assert chosen == min(fitting, key=lambda s: (s.sp, s.zero))
    assert chosen.sp > 1  # 64k tokens of activations do not fit one rank here
    assert plan(arch, r, gpus=8, gpu_gib=2.001)[1] is None
    assert valid_degrees(arch, 8, 65536) == [1, 2, 4, 8]  # 2 KV heads: replicated past 2
    assert valid_degrees(Architecture.from_fields({**FIELDS, "num_attention_heads": 6, "hidden_size": 60}, "t"), 8, 960) == [1, 2]


def test_plan_command_for_a_paper_recipe(capsys):
    assert main(["plan", "longlora-100k", "--gpus", "8", "--gpu-memory", "80"]) == 0
    out = capsys.readouterr().out
    assert "Llama-2-7b-hf" in out and "<- smallest" in out and "activations" in out


@pytest.mark.parametrize("argv,words", [
    (["plan", "longlora-100k", "--gpus", "0", "--gpu-memory", "80"], ["--gpus = 0", "> 0"]),
    (["plan", "longlora-100k", "--gpus", "8", "--gpu-memory", "80", "--model.name_or_path", "someone/unknown-7b"],
     ["someone/unknown-7b", "--config"]),
    (["plan", "longlora-100k", "--gpus", "8", "--gpu-memory", "80", "--config", "/nonexistent/config.json"],
     ["/nonexistent/config.json"]),
])
def test_plan_bad_input(argv, words, capsys):
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err


def test_bf16_mixed_holds_fp32_weights_and_bf16_activations():
    """bf16-mixed: weights, gradients and Adam state as in fp32 training, activations as in bf16."""
    arch = Architecture.from_fields(FIELDS, "test")
    held, trained = parameter_counts(arch, AdapterConfig(method="none"))
    fp32, mixed, bf16 = (estimate(arch, recipe(precision=p), Setup(gpus=1)) for p in ("fp32", "bf16-mixed", "bf16"))
    assert mixed["weights"] == fp32["weights"] == 4 * held
    assert mixed["gradients"] == fp32["gradients"] == 4 * trained and mixed["optimizer"] == 8 * trained
    assert mixed["activations"] == bf16["activations"] == fp32["activations"] / 2
    assert mixed["logits"] - fp32["logits"] == 4096 * FIELDS["vocab_size"] * 2  # bf16 logits beside the fp32 loss


def test_a_landmark_row_is_counted_with_its_landmarks(capsys):
    """Landmark attention adds a token after every mem_freq: 512 text tokens are 520 in a row."""
    from longft.validation import load_recipe

    arch = Architecture.from_fields(FIELDS, "test")
    landmark = load_recipe("landmark-llama2-7b")
    plain = SimpleNamespace(train=landmark.train, data=landmark.data, adapter=landmark.adapter)
    with_landmarks, without = estimate(arch, landmark, Setup(gpus=1)), estimate(arch, plain, Setup(gpus=1))
    assert landmark.data.seq_len == 512 and landmark.attention.params["mem_freq"] == 63
    assert with_landmarks["activations"] == pytest.approx(without["activations"] * 520 / 512)
    assert main(["plan", "landmark-llama2-7b", "--gpus", "8", "--gpu-memory", "80"]) == 0
    assert "520 tokens x" in capsys.readouterr().out
