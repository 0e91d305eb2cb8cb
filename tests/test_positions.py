"""Each position method changes the model beyond the original window, and inside it does what the
method defines (identical for dynamic NTK, compressed positions for linear, per-band rules for YaRN /
llama3, a new base for rope_theta)."""
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from longft.recipe.schema import PositionConfig
from longft.errors import RecipeError
from longft.positions.rope import apply_position_method, original_window

WINDOW = 64
METHODS = {
    "linear": PositionConfig(method="linear", factor=4),
    "dynamic": PositionConfig(method="dynamic", factor=4),
    "yarn": PositionConfig(method="yarn", factor=4),
    "llama3": PositionConfig(method="llama3", factor=4),
    "rope_theta": PositionConfig(method="rope_theta", rope_theta=160000.0),
}


def scaled_copy(base, position):
    config = base.config.__class__.from_dict(base.config.to_dict())
    apply_position_method(config, position, target_len=4 * WINDOW)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    model.load_state_dict(base.state_dict())
    return model


def rotary(model, positions):
    x = torch.zeros(1, len(positions), 1)
    cos, sin = model.model.rotary_emb(x, torch.tensor([positions]))
    return cos[0], sin[0]


@pytest.mark.parametrize("name", list(METHODS))
def test_method_changes_logits_beyond_the_window(make_model, name):
    base = make_model(window=WINDOW)
    scaled = scaled_copy(base, METHODS[name])
    ids = torch.randint(3, 300, (1, 4 * WINDOW), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = base(ids).logits, scaled(ids).logits
    assert not torch.allclose(a[:, WINDOW:], b[:, WINDOW:], atol=1e-4)


def test_dynamic_is_exact_inside_the_window(make_model):
    base = make_model(window=WINDOW)
    scaled = scaled_copy(base, METHODS["dynamic"])
    assert scaled.config.max_position_embeddings == WINDOW  # else dynamic scaling never starts
    ids = torch.randint(3, 300, (1, WINDOW), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(base(ids).logits, scaled(ids).logits, atol=1e-6)
        long_ids = torch.randint(3, 300, (1, 3 * WINDOW))
        scaled(long_ids)  # grows past the window: frequencies rescale
        assert not torch.allclose(scaled.model.rotary_emb.inv_freq, base.model.rotary_emb.inv_freq)


def test_linear_compresses_positions(make_model):
    base = make_model(window=WINDOW)
    scaled = scaled_copy(base, METHODS["linear"])
    positions = [0, 3, 17, 63, 200]
    cos_s, sin_s = rotary(scaled, positions)
    cos_b, sin_b = rotary(base, [p / 4 for p in positions])
    assert torch.allclose(cos_s, cos_b, atol=1e-5) and torch.allclose(sin_s, sin_b, atol=1e-5)


def wavelengths(model):
    return 2 * math.pi / model.model.rotary_emb.inv_freq


def test_yarn_bands_and_attention_scale(make_model):
    base = make_model(window=WINDOW)
    scaled = scaled_copy(base, METHODS["yarn"])
    ratio = scaled.model.rotary_emb.inv_freq / base.model.rotary_emb.inv_freq
    wl = wavelengths(base)
    # beta_fast=32: dimensions turning more than 32 times in the window are kept; beta_slow=1:
    # those turning less than once are interpolated by the full factor.
    assert torch.allclose(ratio[wl < WINDOW / 32], torch.tensor(1.0), atol=1e-6)
    assert torch.allclose(ratio[wl > WINDOW], torch.tensor(0.25), atol=1e-6)
    assert scaled.model.rotary_emb.attention_scaling == pytest.approx(0.1 * math.log(4) + 1)
    assert scaled.config.rope_parameters["original_max_position_embeddings"] == WINDOW
    assert scaled.config.max_position_embeddings == 4 * WINDOW


def test_llama3_bands(make_model):
    base = make_model(window=WINDOW)
    scaled = scaled_copy(base, METHODS["llama3"])
    ratio = scaled.model.rotary_emb.inv_freq / base.model.rotary_emb.inv_freq
    wl = wavelengths(base)
    assert torch.allclose(ratio[wl < WINDOW / 4], torch.tensor(1.0))  # high_freq_factor = 4
    assert torch.allclose(ratio[wl > WINDOW / 1], torch.tensor(0.25))  # low_freq_factor = 1


def test_rope_theta_sets_a_new_base(make_model):
    base = make_model(window=WINDOW)
    scaled = scaled_copy(base, METHODS["rope_theta"])
    dim = base.config.hidden_size // base.config.num_attention_heads
    expected = 1.0 / (160000.0 ** (torch.arange(0, dim, 2).float() / dim))
    assert torch.allclose(scaled.model.rotary_emb.inv_freq, expected)


def test_original_window_survives_a_second_stage(make_model):
    base = make_model(window=WINDOW)
    for name in ("linear", "yarn", "llama3", "dynamic"):
        config = base.config.__class__.from_dict(base.config.to_dict())
        apply_position_method(config, METHODS[name], 4 * WINDOW)
        assert original_window(config, PositionConfig()) == WINDOW, name


def test_non_rope_model_is_refused():
    from transformers import GPT2Config

    with pytest.raises(RecipeError, match="gpt2.*no rotary"):
        apply_position_method(GPT2Config(n_layer=1), METHODS["yarn"], 256)
