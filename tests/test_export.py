"""Invariant 4: an exported checkpoint loads with plain transformers and gives the trained logits."""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from longft.recipe.schema import PositionConfig
from longft.export import export_checkpoint
from longft.positions.rope import apply_position_method


def test_export_round_trip_keeps_logits_and_rope(make_model, tokenizer, tmp_path):
    base = make_model(vocab_size=len(tokenizer), window=32)
    config = base.config
    apply_position_method(config, PositionConfig(method="yarn", factor=4), 128)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    model.load_state_dict(base.state_dict())
    with torch.no_grad():  # stand-in for training: weights that differ from any init
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.eval()
    out = export_checkpoint(model, tokenizer, tmp_path / "export")
    loaded = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    assert loaded.config.rope_parameters["rope_type"] == "yarn"
    assert loaded.config.rope_parameters["original_max_position_embeddings"] == 32
    ids = torch.randint(3, len(tokenizer), (2, 128))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    tok = AutoTokenizer.from_pretrained(str(out))
    text = "def f(x):\n    return x\n"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_export_replaces_an_existing_checkpoint_whole(make_model, tokenizer, tmp_path):
    model = make_model(vocab_size=len(tokenizer))
    dest = tmp_path / "export"
    export_checkpoint(model, tokenizer, dest)
    (dest / "stale.txt").write_text("from an older export")
    export_checkpoint(model, tokenizer, dest)
    assert not (dest / "stale.txt").exists() and (dest / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary or backup folder left


def test_testbed_tokenizer_round_trips_through_autotokenizer(tokenizer):
    from longft.testbed.tokenizer import check_round_trip, testbed_tokenizer_dir

    check_round_trip(testbed_tokenizer_dir())
    ids = tokenizer("import os\n")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and len(ids) > 2
