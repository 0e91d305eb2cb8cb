"""Chunked loss (train.loss_chunk_tokens): the same loss and gradients as transformers' own loss on a
packed batch, without the full logits ever existing; and the same weights after training through the
Trainer (gradient accumulation, LoRA) as the plain loss gives."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from longft.attention.full import register_full_attention
from longft.data.collator import PackedCollator
from longft.train.loss import ChunkedCausalLMLoss, chunked_cross_entropy

PACKS = [
    {"input_ids": list(range(3, 40)), "doc_lens": [12, 25]},
    {"input_ids": list(range(50, 80)), "doc_lens": [4, 9, 17], "doc_masked": [0, 5, 0]},
]


def batches(model_inputs=None):
    return PackedCollator(48, pad_token_id=0, model_inputs=model_inputs)(PACKS)


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("num_items", [None, 41])
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_loss_and_gradients_equal_transformers_loss(make_model, chunk, num_items):
    model = make_model(attn=register_full_attention("dense")).train()
    extra = {} if num_items is None else {"num_items_in_batch": num_items}
    plain = model(**batches(), **extra).loss
    plain.backward()
    expected = grads(model)
    model.zero_grad()

    loss_fn = ChunkedCausalLMLoss(model, chunk)
    batch = batches(loss_fn.model_inputs)
    labels = batch.pop("labels")
    outputs = model(**batch)
    chunked = loss_fn(outputs, labels, num_items_in_batch=num_items)
    chunked.backward()
    assert torch.allclose(chunked, plain, rtol=1e-6, atol=1e-6), (chunked.item(), plain.item())
    got = grads(model)
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.allclose(got[name], expected[name], rtol=1e-5, atol=1e-7), name


def test_the_full_logits_never_exist(make_model):
    """The forward keeps one position's logits; the head sees at most one chunk of tokens at a time,
    in the forward and again in the backward."""
    model = make_model().train()
    seen = []
    model.get_output_embeddings().register_forward_hook(lambda m, i, out: seen.append(tuple(out.shape)))
    loss_fn = ChunkedCausalLMLoss(model, 8)
    batch = batches(loss_fn.model_inputs)
    labels = batch.pop("labels")
    outputs = model(**batch)
    assert outputs.logits.shape[1] == 1
    loss_fn(outputs, labels).backward()
    chunk_calls = seen[1:]
    scored = int((labels[:, 1:] != -100).sum())
    assert max(rows for rows, _ in chunk_calls) <= 8
    assert sum(rows for rows, _ in chunk_calls) == 2 * scored  # forward, then recomputed in backward


def test_a_batch_with_nothing_scored_gives_zero_not_nan(make_model):
    model = make_model().train()
    hidden = torch.randn(1, 5, 64, requires_grad=True)
    loss = chunked_cross_entropy(hidden, torch.full((1, 5), -100), model.get_output_embeddings(), 4)
    loss.backward()
    assert loss.item() == 0.0 and hidden.grad is not None


def test_logit_transforms_are_applied_and_refused_only_for_liger():
    """Gemma 2's soft cap is part of the chunks' logits (tests/test_families.py compares the losses of
    every family); Liger's fused kernel, which takes the head's weight alone, is refused for it."""
    from transformers import Gemma2Config, LlamaConfig

    from longft.train.loss import kernel_refusal, logit_transform

    gemma = Gemma2Config(num_hidden_layers=1, final_logit_softcapping=2.0)
    capped = logit_transform(gemma)(torch.tensor([10.0, -10.0, 0.5]))
    assert capped.abs().max() < 2.0 and capped[2] == pytest.approx(2.0 * math.tanh(0.25))
    assert kernel_refusal(gemma, "liger") and kernel_refusal(gemma, "chunked") is None
    assert logit_transform(LlamaConfig(num_hidden_layers=1)) is None
    assert kernel_refusal(LlamaConfig(num_hidden_layers=1), "liger") is None


def weights(run_dir, which="main/final"):
    return load_file(str(run_dir / which / "model.safetensors"))


@pytest.mark.parametrize("recipe", ["tiny-yarn-4x", "tiny-longlora"])
def test_training_with_the_chunked_loss_ends_where_the_plain_loss_does(recipe, tmp_path):
    """Two smoke steps of two micro-batches each (the Trainer's num_items_in_batch path), with
    tied embeddings, and with LoRA + trained embeddings and norms."""
    from longft.pipeline import run_recipe
    from longft.validation import load_recipe

    losses = {}
    for name, chunk in (("plain", None), ("chunked", 16)):
        run_recipe(load_recipe(recipe, {"output_dir": str(tmp_path / name), "train": {"loss_chunk_tokens": chunk},
                                        "eval": {"enabled": False}}, smoke=True))
        losses[name] = json.loads((tmp_path / name / "main" / "train_summary.json").read_text())["train_loss"]
    plain, chunked, initial = weights(tmp_path / "plain"), weights(tmp_path / "chunked"), weights(tmp_path / "plain", "initial")
    assert plain.keys() == chunked.keys()
    for key in plain:
        assert torch.allclose(plain[key], chunked[key], rtol=1e-4, atol=1e-6), key
    assert any(not torch.equal(plain[k], initial[k]) for k in initial), "training moved nothing: nothing was compared"
    assert abs(losses["plain"] - losses["chunked"]) < 1e-4


def _liger_runs() -> bool:
    import importlib.util

    return importlib.util.find_spec("liger_kernel") is not None and torch.cuda.is_available()


@pytest.mark.skipif(not _liger_runs(), reason="Liger's fused kernel needs liger-kernel and a CUDA GPU")
def test_liger_kernel_equals_the_chunked_loss():
    """train.loss_kernel: liger against its CPU twin, the chunked loss, in value and gradients."""
    from longft.train.loss import summed_cross_entropy

    torch.manual_seed(0)
    head = torch.nn.Linear(64, 1000, bias=False).cuda()
    hidden = torch.randn(2, 96, 64, device="cuda", requires_grad=True)
    targets = torch.randint(0, 1000, (2, 96), device="cuda")
    targets[:, :5] = -100
    results = []
    for kernel in ("chunked", "liger"):
        head.zero_grad()
        hidden.grad = None
        total, count = summed_cross_entropy(hidden, targets, head, 32, kernel)
        total.backward()
        results.append((total.detach(), count, hidden.grad.clone(), head.weight.grad.clone()))
    (a, n_a, ga, wa), (b, n_b, gb, wb) = results
    assert n_a == n_b and torch.allclose(a, b, rtol=1e-4)
    assert torch.allclose(ga, gb, atol=1e-5) and torch.allclose(wa, wb, atol=1e-5)
