"""train.tiled_mlp: every decoder layer's MLP runs a slice of the tokens at a time (DeepSpeed's
TiledMLP), with the logits, loss and gradients of the untiled model, no intermediate wider than a
slice, the same parameter names, and the same trained weights end to end."""
import copy

import pytest
import torch
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM, MixtralConfig

from longft.errors import RecipeError
from longft.plan.architecture import Architecture
from longft.plan.memory import Setup, estimate
from longft.recipe.schema import AdapterConfig, DataConfig, TrainConfig
from longft.train.tiled_mlp import decoder_mlps, slice_count, tile_mlps

TOKENS, HIDDEN = 100, 32  # ceil(100 / 32) = 4 slices of at most 25 tokens


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM._from_config(config, attn_implementation="sdpa")


def loss_and_grads(model, ids):
    model.zero_grad()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def widest_intermediate(model, ids) -> int:
    """The most tokens (of all rows) any MLP's gate projection saw at once, forward and backward."""
    seen = []
    hooks = [mlp.gate_proj.register_forward_hook(lambda m, i, o: seen.append(o.numel() // o.shape[-1]))
             for mlp in decoder_mlps(model)]
    model(input_ids=ids, labels=ids).loss.backward()
    for h in hooks:
        h.remove()
    return max(seen)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_tiled_mlp_gives_the_models_own_loss_and_gradients(checkpointing):
    plain = tiny_llama().train()
    tiled = copy.deepcopy(plain)
    assert tile_mlps(tiled) == 2 and type(decoder_mlps(tiled)[0]).__name__ == "TiledLlamaMLP"
    assert type(decoder_mlps(plain)[0]).__name__ == "LlamaMLP"  # the class itself is untouched
    assert list(tiled.state_dict()) == list(plain.state_dict())
    for model in (plain, tiled):
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ids = torch.randint(0, 300, (2, TOKENS))
    (a_logits, a_grads), (b_logits, b_grads) = loss_and_grads(plain, ids), loss_and_grads(tiled, ids)
    assert torch.allclose(a_logits, b_logits, atol=1e-6)
    assert a_grads.keys() == b_grads.keys()
    assert all(torch.allclose(a_grads[k], b_grads[k], atol=1e-6) for k in a_grads)
    assert widest_intermediate(plain, ids) == 2 * TOKENS
    assert widest_intermediate(tiled, ids) == 2 * -(-TOKENS // slice_count(TOKENS, HIDDEN)) == 50


def test_tiled_mlp_under_lora_adapters():
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=4, target_modules=["gate_proj", "up_proj", "q_proj"], init_lora_weights=False)
    plain = get_peft_model(tiny_llama(), lora)
    tiled = copy.deepcopy(plain)
    tile_mlps(tiled)
    ids = torch.randint(0, 300, (1, TOKENS))
    (_, a), (_, b) = loss_and_grads(plain, ids), loss_and_grads(tiled, ids)
    assert any("lora_A" in k and "gate_proj" in k for k in a)  # adapters inside the tiled MLP train
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_mixture_of_experts_is_refused():
    config = MixtralConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, num_local_experts=4)
    from transformers import MixtralForCausalLM

    with pytest.raises(RecipeError, match="'mixtral' has a mixture of experts \\(num_local_experts = 4\\)"):
        tile_mlps(MixtralForCausalLM(config))


@pytest.mark.smoke
def test_a_tiled_run_trains_the_weights_of_an_untiled_one(tmp_path, capsys):
    from longft.pipeline import run_recipe
    from longft.validation import load_recipe

    def train(name, **switches):
        overrides = {"train": {"max_steps": 2, **switches}, "eval": {"enabled": False}, "output_dir": str(tmp_path / name)}
        run_recipe(load_recipe("tiny-pi-4x", overrides, smoke=True))
        return load_file(tmp_path / name / "main" / "final" / "model.safetensors")

    plain = train("plain")
    tiled = train("tiled", tiled_mlp=True)
    assert "[train] tiled MLP in 2 layers: 4 slices of the 256 tokens a rank holds" in capsys.readouterr().out
    start = load_file(tmp_path / "plain" / "initial" / "model.safetensors")
    moved = max((plain[k] - start[k]).abs().max().item() for k in start)
    assert moved > 1e-4 and sorted(plain) == sorted(tiled)
    assert max((plain[k] - tiled[k]).abs().max().item() for k in plain) < 1e-3 * moved


def test_plan_counts_one_slice_of_mlp_intermediates():
    arch = Architecture.from_fields(dict(vocab_size=1000, hidden_size=64, intermediate_size=256, num_hidden_layers=4,
                                         num_attention_heads=4), "test")

    def terms(**train):
        from types import SimpleNamespace

        recipe = SimpleNamespace(train=TrainConfig(gradient_checkpointing=True, **train), data=DataConfig(seq_len=8192),
                                 adapter=AdapterConfig(method="none"))
        return estimate(arch, recipe, Setup(gpus=1))

    plain, tiled = terms(), terms(tiled_mlp=True)
    assert tiled["activations"] == plain["activations"]  # checkpointed layer inputs are unchanged
    # a layer's backward: the MLP's 7 x intermediate values a token (4 kept, 3 gradients) for one 64-token slice
    assert plain["layer_backward"] - tiled["layer_backward"] == 7 * 256 * (8192 - 64) * 2
