"""Every model family in longft's table (families/table.py) against every method, on tiny random
models from transformers' own config classes: each cell of the matrix either passes its tests here
or is refused before any work with one line naming the family, the method and the reason.

The matrix page (docs/guides/model-families.md) is rendered from the same cells this module tests,
and compared with the file: rewrite it with `LONGFT_WRITE_FAMILY_MATRIX=1 pytest tests/test_families.py
-k page`.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from family_models import DOCS, SEQ_LEN, packed_batch, per_document_loss, tiny_config, tiny_model
from longft.errors import RecipeError
from longft.families import FAMILIES
from longft.methods.registry import ATTENTION_METHODS
from longft.models import architecture_config
from longft.pipeline import planned_stages
from longft.recipe.schema import AttentionConfig
from longft.validation import check_family, family_refusals, load_recipe

PAGE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "model-families.md"

# attention methods with the settings the invariants run them with (S²-Attn: groups of 4 tokens)
ATTENTION = {
    "full": AttentionConfig(method="full"),
    "s2": AttentionConfig(method="s2", group_size=4),
    "logn": AttentionConfig(method="logn", params={"base": 16}),
    "window": AttentionConfig(method="window", params={"window": 6}),
    "hybrid": AttentionConfig(method="hybrid", params={"window": 6, "full_layers": 1, "logn_base": 16}),
}
ATTENTION_TITLES = {"full": "full attention", "s2": "S²-Attn", "logn": "log-n", "window": "window", "hybrid": "hybrid"}
ROUND_TRIP = ("full", "s2")  # invariant 4 as well: the exported model gives the trained model's logits
# shipped recipes trained for 2 steps on each family's --smoke stand-in
TRAININGS = {"tiny-yarn-4x": "YaRN", "tiny-longlora": "LoRA + S²-Attn", "tiny-pose-4x": "PoSE", "tiny-fot": "FoT"}
OTHER = {"longrope": "LongRoPE factors", "chunked_loss": "chunked loss", "tiled_mlp": "tiled MLP"}


def stage_for(column: str, family: str):
    """The recipe a cell stands for, on the family's stand-in."""
    if column in TRAININGS:
        return load_recipe(column, {"model": {"family": family}, "eval": {"enabled": False}}, smoke=True)
    overrides = {"model": {"family": family}, "eval": {"enabled": False}}
    recipe = load_recipe("tiny-yarn-4x", overrides, smoke=True)
    recipe.position.method = "none"  # the cell is about its own method; position methods have the training columns
    if column in ATTENTION:
        recipe.attention = ATTENTION[column]
    elif column == "longrope":
        recipe.position.method = "longrope"
    elif column == "chunked_loss":
        recipe.train.loss_chunk_tokens = 8
    elif column == "tiled_mlp":
        recipe.train.tiled_mlp = True
    return recipe


def standin_stages(column: str, family: str):
    """The stages --smoke runs for the cell, and the architecture of the stand-in they start from."""
    stages = [stage for _, stage, _ in planned_stages(stage_for(column, family))]
    return stages, architecture_config(stages[0].model)


def refusal(column: str, family: str) -> str | None:
    stages, architecture = standin_stages(column, family)
    refused = [why for stage in stages for _, why in family_refusals(stage, architecture)]
    return refused[0] if refused else None


COLUMNS = list(ATTENTION) + list(TRAININGS) + list(OTHER)
TITLES = {**ATTENTION_TITLES, **TRAININGS, **OTHER}
CELLS = {(family, column): refusal(column, family) for family in FAMILIES for column in COLUMNS}


def cells(columns, refused: bool = False):
    return [pytest.param(f, c, id=f"{f}-{c}") for (f, c), why in CELLS.items() if c in columns and bool(why) == refused]


def switched(family: str, column: str, config=None):
    model = tiny_model(family, config)
    method = ATTENTION_METHODS[column]
    model.set_attn_implementation(method.register(ATTENTION[column], SEQ_LEN))
    return model


# ------------------------------------------------------------------ invariants 1, 2 and 4


@pytest.mark.parametrize("family, column", cells(ATTENTION))
def test_causality(family, column):
    """Invariant 1: changing the tokens after t leaves the logits up to t as they were (packed batch)."""
    model = switched(family, column)
    batch = packed_batch()
    changed = {**batch, "input_ids": batch["input_ids"].clone()}
    changed["input_ids"][:, 20:] = (changed["input_ids"][:, 20:] + 7) % 100 + 3
    with torch.no_grad():
        before, after = model(**batch).logits, model(**changed).logits
    assert torch.allclose(before[:, :20], after[:, :20], atol=1e-5)
    assert not torch.allclose(before[:, 20:], after[:, 20:], atol=1e-3)  # the change reached the model


@pytest.mark.parametrize("family, column", cells(ATTENTION))
def test_packing_isolation(family, column):
    """Invariant 2: a packed batch's loss is the token-weighted loss of its documents run one by one
    (sliding layers keep their window, soft caps apply, in both)."""
    packed_model = switched(family, column)
    alone = switched(family, column) if column != "full" else tiny_model(family)  # full: transformers' own
    with torch.no_grad():
        packed = packed_model(**packed_batch()).loss.item()
        separate = per_document_loss(alone)
    assert packed == pytest.approx(separate, rel=1e-5)


def scaled_position(config):
    """YaRN x4, or where the family's config class takes no YaRN (Phi-3), LongRoPE x4."""
    from longft.families.family import rotary_dim
    from longft.recipe.schema import PositionConfig

    if config.model_type == "phi3":
        pairs = rotary_dim(config) // 2
        return PositionConfig(method="longrope", original_max_position_embeddings=16,
                              params={"long_factor": [4.0] * pairs, "short_factor": [1.0] * pairs})
    return PositionConfig(method="yarn", factor=4.0, original_max_position_embeddings=16)


@pytest.mark.parametrize("family, column", cells(ROUND_TRIP))
def test_export_round_trip(family, column, tmp_path, tokenizer):
    """Invariant 4 on a YaRN-scaled model (S²-Attn: with LoRA on the family's own projections, merged
    into the export): plain from_pretrained gives the logits the trained model gives."""
    from longft.adapters.lora import apply_adapter
    from longft.export.checkpoint import export_checkpoint
    from longft.positions.rope import apply_position_method
    from longft.recipe.schema import AdapterConfig

    config = tiny_config(family, vocab_size=len(tokenizer))
    apply_position_method(config, scaled_position(config), 64)
    model = switched(family, column, config)
    if column == "s2":
        model = apply_adapter(model, AdapterConfig(method="lora", r=4))
        with torch.no_grad():  # a trained adapter and trained norms, not the identity peft starts from
            for name, p in model.named_parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 0.05)
    ids = torch.tensor([list(range(5, 45))])
    # the trained model's inference runs full attention (S²-Attn is for training only)
    model.set_attn_implementation(ATTENTION_METHODS["full"].register(ATTENTION["full"], SEQ_LEN))
    with torch.no_grad():
        trained = model(input_ids=ids).logits
    export_checkpoint(model, tokenizer, tmp_path / "export")
    plain = AutoModelForCausalLM.from_pretrained(str(tmp_path / "export")).eval()
    assert plain.config.rope_parameters == model.config.rope_parameters
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids).logits, trained, atol=1e-4)


# ------------------------------------------------------------------ 2-step trainings


@pytest.mark.parametrize("family, column", cells(TRAININGS))
def test_training(family, column, tmp_path):
    from longft.pipeline import run_recipe

    recipe = stage_for(column, family)
    recipe.output_dir = str(tmp_path)
    result = run_recipe(recipe)
    final = AutoModelForCausalLM.from_pretrained(result["output"])
    assert final.config.model_type == family
    assert torch.isfinite(torch.stack([p.float().sum() for p in final.parameters()])).all()


# ------------------------------------------------------------------ the other methods


@pytest.mark.parametrize("family, column", cells(("longrope",)))
def test_longrope_factors(family, column):
    """One factor per rotated pair: rotary dim / 2, which partial rotary makes less than head_dim / 2."""
    from longft.families.family import rotary_dim
    from longft.methods.longrope.candidates import base_inv_freq
    from longft.positions.rope import apply_position_method
    from longft.recipe.schema import PositionConfig

    config = tiny_config(family)
    pairs = len(base_inv_freq(config))
    assert pairs == rotary_dim(config) // 2
    position = PositionConfig(method="longrope", original_max_position_embeddings=16,
                              params={"long_factor": [2.0] * pairs, "short_factor": [1.0] * pairs})
    apply_position_method(config, position, 64)
    model = tiny_model(family, config)
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([list(range(3, 60))])).logits).all()


@pytest.mark.parametrize("family, column", cells(("chunked_loss",)))
def test_chunked_loss(family, column):
    """The chunked loss equals the model's own loss, logit soft caps and scales included."""
    from longft.train.loss import ChunkedCausalLMLoss

    model = tiny_model(family)
    ids = torch.tensor([DOCS[1] + DOCS[3]])
    loss = ChunkedCausalLMLoss(model, chunk_tokens=8)
    with torch.no_grad():
        own = model(input_ids=ids, labels=ids).loss
        outputs = model(input_ids=ids, **loss.model_inputs)
        assert loss(outputs, ids).item() == pytest.approx(own.item(), rel=1e-5)


@pytest.mark.parametrize("family, column", cells(("tiled_mlp",)))
def test_tiled_mlp(family, column):
    from longft.train.tiled_mlp import tile_mlps

    model = tiny_model(family)
    ids = torch.tensor([DOCS[1] + DOCS[3]])
    with torch.no_grad():
        plain = model(input_ids=ids, labels=ids).loss.item()
        assert tile_mlps(model) == model.config.num_hidden_layers
        assert model(input_ids=ids, labels=ids).loss.item() == pytest.approx(plain, rel=1e-5)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("family, column", cells(COLUMNS, refused=True))
def test_refused_before_any_work_in_one_line(family, column):
    with pytest.raises(RecipeError) as err:
        stages, architecture = standin_stages(column, family)
        for stage in stages:
            check_family(stage, architecture)
    message = str(err.value)
    assert "\n" not in message and repr(family) in message and CELLS[(family, column)] in message


# ------------------------------------------------------------------ the page


def render() -> str:
    """The page with its matrix part rendered: a refused cell points to its reason, listed below."""
    reasons: list[str] = []

    def cell(family: str, column: str) -> str:
        why = CELLS[(family, column)]
        if not why:
            return "✓"
        if why not in reasons:
            reasons.append(why)
        return f"refused: R{reasons.index(why) + 1}"

    head = "| family | " + " | ".join(TITLES[c] for c in COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    rows = [f"| `{family}` | " + " | ".join(cell(family, c) for c in COLUMNS) + " |" for family in FAMILIES]
    notes = [f"- R{i + 1}: {why}" for i, why in enumerate(reasons)]
    matrix = "\n".join([head, rule, *rows, "", *notes])
    text = PAGE.read_text() if PAGE.is_file() else "# Model families\n\n<!-- matrix -->\n<!-- /matrix -->\n"
    before, rest = text.split("<!-- matrix -->\n", 1)
    after = rest.split("<!-- /matrix -->\n", 1)[1]
    return f"{before}<!-- matrix -->\n{matrix}\n<!-- /matrix -->\n{after}"


def test_page_shows_what_this_module_tests():
    expected = render()
    if os.environ.get("LONGFT_WRITE_FAMILY_MATRIX"):
        PAGE.write_text(expected)
    assert PAGE.read_text() == expected, (
        f"{PAGE} differs from the matrix this module tests; rewrite it with "
        "LONGFT_WRITE_FAMILY_MATRIX=1 pytest tests/test_families.py -k page")
