"""train.offload_activations: the Trainer's forward runs under torch's save_on_cpu hooks, so what the
forward saves for the backward pass goes through host memory, and training ends at the same weights."""
import pytest
import torch
from safetensors.torch import load_file

from longft.plan.architecture import Architecture
from longft.plan.memory import Setup, estimate
from longft.recipe.schema import AdapterConfig, DataConfig, TrainConfig

pytestmark = pytest.mark.smoke

ARGS = {"train": {"max_steps": 2, "gradient_checkpointing": True}, "eval": {"enabled": False}}


def train(tmp_path, name, **train):
    from longft.pipeline import run_recipe
    from longft.validation import load_recipe

    overrides = {**ARGS, "train": {**ARGS["train"], **train}, "output_dir": str(tmp_path / name)}
    run_recipe(load_recipe("tiny-pi-4x", overrides, smoke=True))
    return load_file(tmp_path / name / "main" / "final" / "model.safetensors")


def test_offloaded_activations_train_the_same_weights(tmp_path, monkeypatch):
    packed = []
    real = torch.autograd.graph.save_on_cpu

    class Counting(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pack = self.pack_hook
            self.pack_hook = lambda t: packed.append(t.shape) or pack(t)

    monkeypatch.setattr(torch.autograd.graph, "save_on_cpu", Counting)
    plain = train(tmp_path, "plain")
    assert not packed
    offloaded = train(tmp_path, "offloaded", offload_activations=True)
    assert packed  # the forward's saved tensors went through the offload hooks
    assert sorted(plain) == sorted(offloaded)
    assert all(torch.equal(plain[k], offloaded[k]) for k in plain)


def test_plan_moves_stored_activations_off_the_gpu():
    arch = Architecture.from_fields(dict(vocab_size=1000, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                                         num_attention_heads=4), "test")

    def recipe(**train):
        from types import SimpleNamespace

        return SimpleNamespace(train=TrainConfig(gradient_checkpointing=True, **train), data=DataConfig(seq_len=8192),
                               adapter=AdapterConfig(method="none"))

    kept, offloaded = (estimate(arch, recipe(offload_activations=o), Setup(gpus=1)) for o in (False, True))
    assert kept["activations"] > 0 and offloaded["activations"] == 0
    assert offloaded["layer_backward"] == kept["layer_backward"]
