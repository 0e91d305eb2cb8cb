"""The numbers of a model the memory plan needs, without its weights.

From the model's own config.json where it is on this machine (a folder, the Hugging Face cache, a
scratch architecture in the recipe); else from a short table of the architectures the paper
recipes name, so a plan can be made before the weights are downloaded. `--config` overrides both.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecipeError
from ..families.family import EXPERT_FIELDS
from ..models import BUILT_BY_RECIPE

# config.json fields of the models the paper recipes start from (published configs)
KNOWN = {
    "meta-llama/Llama-2-7b-hf": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                     num_attention_heads=32, num_key_value_heads=32, tie_word_embeddings=False),
    "meta-llama/Llama-2-13b-hf": dict(vocab_size=32000, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                                      num_attention_heads=40, num_key_value_heads=40, tie_word_embeddings=False),
    "meta-llama/Meta-Llama-3-8B": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                       num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
    "openlm-research/open_llama_3b_v2": dict(vocab_size=32000, hidden_size=3200, intermediate_size=8640,
                                             num_hidden_layers=26, num_attention_heads=32, num_key_value_heads=32,
                                             tie_word_embeddings=False),
    "mistralai/Mistral-7B-v0.1": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                      num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
}


@dataclass(frozen=True)
class Architecture:
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    tied: bool
    source: str  # where the numbers came from
    head_size: int | None = None  # the config's head_dim where it differs from hidden / heads
    experts: int = 0  # a mixture of experts: experts per layer (0: a dense MLP)
    experts_per_token: int = 0  # how many a token is routed to
    expert_intermediate: int = 0  # one expert's intermediate size
    shared_intermediate: int = 0  # an always-on shared expert's (Qwen2-MoE)

    @property
    def token_intermediate(self) -> int:
        """The MLP intermediates one token makes: its routed experts' and the shared one's in a mixture."""
        if not self.experts:
            return self.intermediate
        return self.experts_per_token * self.expert_intermediate + self.shared_intermediate

    @property
    def head_dim(self) -> int:
        return self.head_size or self.hidden // self.heads

    @classmethod
    def from_fields(cls, fields: dict, source: str) -> "Architecture":
        try:
            heads = fields["num_attention_heads"]
            experts = max(int(fields.get(k) or 0) for k in EXPERT_FIELDS)
            return cls(vocab=fields["vocab_size"], hidden=fields["hidden_size"], intermediate=fields["intermediate_size"],
                       layers=fields["num_hidden_layers"], heads=heads,
                       kv_heads=fields.get("num_key_value_heads") or heads,
                       tied=bool(fields.get("tie_word_embeddings", False)), source=source,
                       head_size=fields.get("head_dim"), experts=experts if experts > 1 else 0,
                       experts_per_token=int(fields.get("num_experts_per_tok") or 0),
                       expert_intermediate=int(fields.get("moe_intermediate_size") or fields["intermediate_size"]),
                       shared_intermediate=int(fields.get("shared_expert_intermediate_size") or 0))
        except KeyError as err:
            raise RecipeError(f"{source}: no {err.args[0]!r}; the plan needs a Llama-style config") from None


def architecture_for(model, config_path: str | None = None) -> Architecture:
    if config_path:
        path = Path(config_path)
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file():
            raise RecipeError(f"--config {config_path!r}: no such config.json")
        return Architecture.from_fields(json.loads(path.read_text()), str(path))
    if model.init == "scratch":
        fields = dict(model.arch)
        if "vocab_size" not in fields:
            from ..models import load_tokenizer

            fields["vocab_size"] = len(load_tokenizer(model))
        return Architecture.from_fields(fields, "the recipe's model.arch")
    if model.name_or_path in BUILT_BY_RECIPE:  # planned from the recipe that builds it, without building it
        from ..recipe.loading import read_recipe

        return architecture_for(read_recipe(BUILT_BY_RECIPE[model.name_or_path]).model)
    from ..models import architecture_config

    try:
        config = architecture_config(model)
    except RecipeError:
        if model.name_or_path in KNOWN:
            return Architecture.from_fields(KNOWN[model.name_or_path], f"{model.name_or_path} (published config; not on this machine)")
        raise RecipeError(
            f"model.name_or_path = {model.name_or_path!r} is not on this machine and not one of the architectures "
            f"longft knows ({', '.join(KNOWN)}); pass --config path/to/config.json"
        ) from None
    return Architecture.from_fields(config.to_dict(), model.name_or_path)
