"""LongLoRA's trainable set and the merge into a plain checkpoint."""
import pytest
import torch
from transformers import AutoModelForCausalLM

from longft.recipe.schema import AdapterConfig, AttentionConfig
from longft.errors import RecipeError
from longft.export import export_checkpoint
from longft.methods.registry import use_attention
from longft.adapters.lora import apply_adapter, quantization_config, trainable_parameter_names


def test_trainable_set_is_lora_plus_embed_and_norms(make_model):
    model = apply_adapter(make_model(), AdapterConfig(method="lora"))
    names = trainable_parameter_names(model)
    lora = [n for n in names if "lora_" in n]
    rest = [n for n in names if "lora_" not in n]
    assert {n.split(".")[-4] for n in lora} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert len(lora) == 2 * 4 * 2  # A and B, 4 projections, 2 layers
    assert any("embed_tokens" in n for n in rest)
    assert sum("layernorm" in n for n in rest) == 2 * 2 and any(n.endswith("model.norm.modules_to_save.default.weight") for n in rest)
    assert all(("embed_tokens" in n) or ("norm" in n) for n in rest), rest
    assert not any("lm_head" in n for n in names)
    assert not any(("mlp" in n) for n in names)


def test_merge_round_trip_with_s2_training_attention(make_model, tokenizer, tmp_path):
    base = make_model(vocab_size=len(tokenizer))
    model = apply_adapter(use_attention(base, AttentionConfig(method="s2")), AdapterConfig(method="lora"))
    with torch.no_grad():  # stand-in for training: move adapters, embedding and norms off their init
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    ids = torch.randint(3, len(tokenizer), (2, 64))
    model.eval()
    model.base_model.model.set_attn_implementation("sdpa")  # inference uses full attention
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    out = export_checkpoint(model, tokenizer, tmp_path / "merged")
    plain = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    assert plain.config._attn_implementation == "sdpa"
    assert not any("lora" in n for n, _ in plain.named_parameters())
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids).logits, expected, atol=1e-5)


def test_tied_embeddings_are_untied_so_lm_head_stays_frozen(make_model):
    model = make_model()
    model.config.tie_word_embeddings = True
    model.tie_weights()
    peft_model = apply_adapter(model, AdapterConfig(method="lora"))
    head = peft_model.get_output_embeddings().weight
    embed = peft_model.get_input_embeddings()
    assert not head.requires_grad
    assert head.data_ptr() != embed.weight.data_ptr()


def test_qlora_without_bitsandbytes_fails_clearly():
    try:
        import bitsandbytes  # noqa: F401

        pytest.skip("bitsandbytes is installed here")
    except ImportError:
        pass
    with pytest.raises(RecipeError, match="bitsandbytes"):
        quantization_config(AdapterConfig(method="lora", quantize="4bit"))
