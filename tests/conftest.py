import os
from pathlib import Path

import pytest
import torch

# Tests build into their own cache (content-keyed, so it may persist between runs).
os.environ.setdefault("LONGFT_HOME", str(Path(__file__).resolve().parent.parent / ".cache" / "test-home"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tokenizer():
    from longft.recipe.schema import ModelConfig
    from longft.models import load_tokenizer

    return load_tokenizer(ModelConfig(tokenizer="testbed"))


def tiny_llama(vocab_size=300, window=64, attn="sdpa", seed=0, **rope):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=window,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, **rope},
    )
    model = LlamaForCausalLM._from_config(config, attn_implementation=attn)
    return model.eval()


@pytest.fixture
def make_model():
    return tiny_llama


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tokenizer):
    """A small saved model with its tokenizer, for export and eval cases."""
    folder = tmp_path_factory.mktemp("ckpt") / "model"
    tiny_llama(vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
