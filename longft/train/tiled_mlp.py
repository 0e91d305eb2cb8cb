"""`train.tiled_mlp`: each decoder layer's MLP runs a slice of the sequence at a time (ALST's tiled MLP).

At long length the MLP's intermediates (gate, up, their activation and product: 4 x
intermediate_size values a token, about 11 x hidden for Llama) are the largest tensors of a layer's
forward and of its backward pass. DeepSpeed's `TiledMLP` autograd function runs the MLP on slices
of the tokens without keeping their intermediates and recomputes one slice at a time in the backward
pass, so at most one slice's intermediates exist. An MLP is token-wise, so slicing changes nothing
but the order in which each weight's gradient is summed. Slices follow ALST: ceil(tokens / hidden)
of them, so a slice's intermediates are about the size of one MLP weight.

DeepSpeed's own example patches the model class's forward. Here each MLP instance becomes an
instance of a subclass of its own class whose forward calls the class's forward per slice, the move
torch's FSDP2 `fully_shard` makes on the modules it shards: the model class is untouched, and
parameters, state-dict names and peft's adapter layers stay where they were.
"""
from __future__ import annotations

import functools
import importlib.util
import math

from ..errors import RecipeError
from ..families.family import EXPERT_FIELDS, experts



def check_available(enabled: bool) -> None:
    """Before any work: the switch needs DeepSpeed's autograd function."""
    if enabled and importlib.util.find_spec("deepspeed") is None:
        raise RecipeError("train.tiled_mlp runs DeepSpeed's TiledMLP, and DeepSpeed is not installed: "
                          "pip install 'longft[deepspeed]' (or train.tiled_mlp: false)")


def slice_count(tokens: int, hidden: int) -> int:
    """Slices of a row of `tokens` (a batch's rows are cut alike); ALST's rule. Every rank gets the
    same count without asking the others (under ZeRO-3 each slice gathers the weights, a
    collective): the collator pads every row to seq_len, and sequence parallelism splits it evenly."""
    return math.ceil(tokens / hidden)


@functools.cache
def tiled_class(cls: type) -> type:
    """A subclass of the MLP class `cls` whose forward runs `cls.forward` a slice of tokens at a time."""
    def forward(self, hidden_states):
        slices = slice_count(hidden_states.shape[-2], hidden_states.shape[-1])
        if slices == 1:
            return cls.forward(self, hidden_states)
        from deepspeed.runtime.sequence_parallel.ulysses_sp import TiledMLP

        return TiledMLP.apply(cls.forward, self, hidden_states, slices, list(self.parameters()))

    return type(f"Tiled{cls.__name__}", (cls,), {"forward": forward, "__module__": __name__})


def decoder_mlps(model) -> list:
    """The `mlp` module of every decoder layer (peft's wrapper included)."""
    return [module for name, module in model.named_modules() if name.rsplit(".", 1)[-1] == "mlp"]


def refusal(config) -> str | None:
    """Why this model's MLPs cannot be tiled (a mixture of experts routes tokens), or None."""
    count = experts(config)
    if count > 1:
        return (f"its MLP is a mixture of {count} experts, which routes each token (tiling covers dense MLPs); "
                "set train.tiled_mlp: false")
    return None


def tile_mlps(model) -> int:
    """Turn every decoder layer's MLP into its tiled subclass; returns how many. A model whose
    layers have no `mlp`, or whose MLP is a mixture of experts, is refused."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    routed = [f for f in EXPERT_FIELDS if (getattr(text, f, None) or 0) > 1]  # MoE blocks: routing, tuples out
    mlps = decoder_mlps(model)
    if routed or not mlps:
        why = f"a mixture of experts ({routed[0]} = {getattr(text, routed[0])})" if routed else "no `mlp` in its layers"
        raise RecipeError(f"train.tiled_mlp: model type {text.model_type!r} has {why}; tiling covers dense MLPs "
                          "(Llama, Mistral, Qwen2 ...); set train.tiled_mlp: false")
    for mlp in mlps:
        if type(mlp).__module__ != __name__:  # not tiled yet
            mlp.__class__ = tiled_class(type(mlp))
    return len(mlps)
