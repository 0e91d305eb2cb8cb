"""The differences between model families where Llama-only code would run and silently do the wrong
thing: partial and interleaved rotary, layers without RoPE, per-layer-type rope parameters, soft caps,
fused projections and experts. Each is checked against the family's own modeling code."""
from __future__ import annotations

import sys

import pytest
import torch

from family_models import DOCS, packed_batch, per_document_loss, tiny_config, tiny_model
from longft.families.family import rotary_dim


def rotated_by_the_model(model, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x (B, H, N, D) rotated at `positions` by the family's own rotary embedding and apply function."""
    modeling = sys.modules[type(model).__module__]
    cos, sin = model.base_model.rotary_emb(x, positions)
    rotated, _ = modeling.apply_rotary_pos_emb(x, x, cos, sin)
    return rotated


ROTARY_LAYOUTS = {"gpt_neox": "a quarter of each head, halves", "glm4": "half of each head, neighbours",
                  "cohere": "the whole head, neighbours", "phi3": "three quarters of each head, halves"}


def layout_config(family: str):
    return tiny_config(family, **({"partial_rotary_factor": 0.75} if family == "phi3" else {}))


@pytest.mark.parametrize("family", list(ROTARY_LAYOUTS))
def test_fot_memory_keys_turn_back_the_familys_own_rotation(family):
    from longft.methods.fot.attention import keys_at_start

    config = layout_config(family)
    model = tiny_model(family, config)
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(1, 2, 12, 16, generator=g)
    positions = torch.randint(1, 60, (1, 12), generator=g)
    at_start = keys_at_start(rotated_by_the_model(model, raw, positions), positions, model.config, 0)
    assert torch.allclose(at_start, rotated_by_the_model(model, raw, torch.zeros_like(positions)), atol=1e-5)
    if rotary_dim(config) < 16:  # the features RoPE never touched stay as they were
        assert torch.equal(at_start[..., rotary_dim(config):], raw[..., rotary_dim(config):])


@pytest.mark.parametrize("family", list(ROTARY_LAYOUTS))
def test_hybrid_undoes_the_familys_own_rotation(family):
    from longft.methods.window.attention import unrotate

    model = tiny_model(family, layout_config(family))
    raw = torch.randn(1, 2, 10, 16, generator=torch.Generator().manual_seed(1))
    positions = torch.arange(10)[None] * 3
    assert torch.allclose(unrotate(rotated_by_the_model(model, raw, positions), positions, model.config, 0), raw, atol=1e-5)


def test_layers_without_rope_are_not_turned_back():
    """SmolLM3 (no_rope_layers) and EXAONE 4 (global layers): a key there is the same at every position."""
    from longft.attention.rope_angles import layer_rotary
    from longft.methods.fot.attention import keys_at_start

    smollm3 = tiny_config("smollm3")
    assert list(smollm3.no_rope_layers) == [1, 0, 1, 0]
    exaone4 = tiny_config("exaone4")
    assert exaone4.layer_types == ["sliding_attention", "full_attention"] * 2
    key = torch.randn(1, 2, 6, 16)
    positions = torch.arange(6)[None] + 10
    for config in (smollm3, exaone4):
        assert layer_rotary(config, 1, "cpu") is None
        assert torch.equal(keys_at_start(key, positions, config, 1), key)
        assert not torch.allclose(keys_at_start(key, positions, config, 0), key)


@pytest.mark.parametrize("method", ["yarn", "linear", "dynamic", "llama3"])
def test_position_methods_keep_partial_rotary(method):
    """A position method rewrites the rope parameters; how much of a head rotates stays the family's."""
    from longft.positions.rope import apply_position_method
    from longft.recipe.schema import PositionConfig

    config = tiny_config("gpt_neox")
    apply_position_method(config, PositionConfig(method=method, factor=4.0, original_max_position_embeddings=16), 64)
    assert config.rope_parameters["rope_type"] == method and config.rope_parameters["partial_rotary_factor"] == 0.25
    model = tiny_model("gpt_neox", config)
    assert model.base_model.rotary_emb.inv_freq.numel() == rotary_dim(config) // 2 == 2


def test_gemma3_scales_its_global_layers_only():
    from longft.attention.rope_angles import layer_rotary
    from longft.positions.rope import apply_position_method, original_window
    from longft.recipe.schema import PositionConfig

    config = tiny_config("gemma3_text")
    local = dict(config.rope_parameters["sliding_attention"])
    position = PositionConfig(method="yarn", factor=4.0)
    assert original_window(config, position) == 64
    apply_position_method(config, position, 256)
    assert config.rope_parameters["sliding_attention"] == local
    assert config.rope_parameters["full_attention"]["rope_type"] == "yarn"
    assert config.rope_parameters["full_attention"]["rope_theta"] == 1_000_000.0
    model = tiny_model("gemma3_text", config)
    assert torch.allclose(model.model.rotary_emb.full_attention_inv_freq, layer_rotary(config, 1, "cpu").inv_freq)
    assert torch.allclose(model.model.rotary_emb.sliding_attention_inv_freq, layer_rotary(config, 0, "cpu").inv_freq)


@pytest.mark.parametrize("method", ["full", "logn"])
def test_attention_soft_cap_applies_on_packed_batches(method):
    """Gemma 2 with a cap small enough to matter: longft's attention gives the family's eager result."""
    from test_families import ATTENTION, switched

    config = tiny_config("gemma2", attn_logit_softcapping=0.02)
    packed = switched("gemma2", method, config)
    alone = tiny_model("gemma2", config) if method == "full" else switched("gemma2", method, config)
    uncapped = switched("gemma2", method, tiny_config("gemma2", attn_logit_softcapping=None))
    with torch.no_grad():
        out = packed(**packed_batch())
        assert out.loss.item() == pytest.approx(per_document_loss(alone), rel=1e-5)
        assert not torch.allclose(out.logits, uncapped(**packed_batch()).logits, atol=1e-3)  # the cap matters here
    assert ATTENTION[method].method == method


def test_sliding_layers_keep_their_window_on_packed_batches():
    """A packed batch through a sliding layer sees no further back than the window, as the model alone."""
    from test_families import switched

    config = tiny_config("ministral", sliding_window=4)
    with torch.no_grad():
        packed = switched("ministral", "full", config)(**packed_batch()).loss.item()
        wide = switched("ministral", "full", tiny_config("ministral", sliding_window=64))(**packed_batch()).loss.item()
        assert packed == pytest.approx(per_document_loss(tiny_model("ministral", config)), rel=1e-5)
    assert packed != pytest.approx(wide, rel=1e-3)


@pytest.mark.parametrize("family, targets, saved", [
    ("phi3", {"qkv_proj", "o_proj"}, {"embed_tokens", "norm"}),
    ("gpt_neox", {"query_key_value", "dense"}, {"embed_in", "final_layer_norm"}),
    ("qwen3", {"q_proj", "k_proj", "v_proj", "o_proj"}, {"q_norm", "k_norm"}),
])
def test_lora_takes_the_familys_projections_and_trainable_modules(family, targets, saved):
    from longft.adapters.lora import apply_adapter, check_lora_targets
    from longft.recipe.schema import AdapterConfig

    adapter = AdapterConfig(method="lora", r=4)
    check_lora_targets(adapter, tiny_config(family))
    model = apply_adapter(tiny_model(family), adapter)
    lora_modules = {name.split(".")[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert lora_modules == targets
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert all(any(f".{module}." in name for name in trained) for module in saved)


def test_plan_counts_every_expert_held_and_the_routed_ones_active():
    from longft.plan.architecture import Architecture
    from longft.plan.memory import active_parameter_count, parameter_counts

    config = tiny_config("qwen3_moe")
    model = tiny_model("qwen3_moe", config)
    arch = Architecture.from_fields(config.to_dict(), "test")
    held, _ = parameter_counts(arch, None)
    norms = sum(p.numel() for name, p in model.named_parameters() if "norm" in name)
    assert held == sum(p.numel() for p in model.parameters()) - norms + (2 * config.num_hidden_layers + 1) * 64
    per_expert = 3 * 64 * config.moe_intermediate_size
    assert held - active_parameter_count(arch) == config.num_hidden_layers * per_expert * (4 - 2)


def test_chunked_loss_applies_granites_logit_scaling():
    from longft.train.loss import ChunkedCausalLMLoss

    model = tiny_model("granite", tiny_config("granite", logits_scaling=4.0))
    ids = torch.tensor([DOCS[1]])
    loss = ChunkedCausalLMLoss(model, chunk_tokens=4)
    with torch.no_grad():
        assert loss(model(input_ids=ids, **loss.model_inputs), ids).item() == pytest.approx(
            model(input_ids=ids, labels=ids).loss.item(), rel=1e-5)


def test_odd_heads_one_kv_head_and_a_head_dim_of_its_own():
    """Qwen3 with 3 query heads, 1 key/value head and head_dim 32 (not hidden / heads): S²-Attn's
    half of the heads, the packed paths and the planner's counts follow the config."""
    from longft.plan.architecture import Architecture
    from longft.plan.memory import parameter_counts
    from test_families import switched

    config = tiny_config("qwen3", num_attention_heads=3, num_key_value_heads=1, head_dim=32)
    for column in ("full", "s2"):
        with torch.no_grad():
            packed = switched("qwen3", column, config)(**packed_batch()).loss.item()
            alone = per_document_loss(switched("qwen3", column, config) if column == "s2" else tiny_model("qwen3", config))
        assert packed == pytest.approx(alone, rel=1e-5)
    model = tiny_model("qwen3", config)
    held, _ = parameter_counts(Architecture.from_fields(config.to_dict(), "test"), None)
    qk_norms = 2 * 32 * config.num_hidden_layers  # per-head norms, which the planner leaves out
    assert held == sum(p.numel() for p in model.parameters()) - qk_norms


def test_a_gemma3_export_reads_its_scaled_layers_rope(tmp_path, tokenizer):
    """Per-layer-type rope parameters: the export's window, served length and engine notes come from
    the global layers' entry, which the position method wrote (dynamic NTK warns as it does alone)."""
    import json

    from longft.methods.engine_notes import export_for_serving
    from longft.positions.rope import apply_position_method
    from longft.recipe.schema import PositionConfig

    config = tiny_config("gemma3_text", vocab_size=len(tokenizer))
    apply_position_method(config, PositionConfig(method="dynamic", factor=4.0, original_max_position_embeddings=16), 64)
    notes = export_for_serving(tiny_model("gemma3_text", config), tokenizer, tmp_path / "export")
    summary = json.loads((tmp_path / "export" / "longft_export.json").read_text())
    assert summary["rope_type"] == "dynamic" and summary["original_window"] == 16 and summary["serving_length"] == 64
    assert notes and "dynamic" in notes[0].lower()
