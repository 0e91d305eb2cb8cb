"""Evaluation pieces compute what they claim."""
import math
import random

import pytest
import torch

from longft.eval.passkey import code_prompt, filler_lines_from, landmark_prompt, passkey_grid
from longft.eval.perplexity import fixed_target_perplexity, sliding_window_perplexity, token_nll
from longft.eval.report import write_report


def test_fixed_target_scores_the_same_tokens_with_more_context(make_model):
    model = make_model()
    doc = torch.randint(3, 300, (200,), generator=torch.Generator().manual_seed(0)).tolist()
    out = fixed_target_perplexity(model, [doc], [16, 64], target_tokens=8)
    nll = token_nll(model, torch.tensor([doc[64 - 16 : 64]]))[0, -8:]
    assert math.isclose(out[16], math.exp(nll.mean().item()), rel_tol=1e-5)
    assert out[16] != out[64]


def test_perplexity_makes_only_the_logits_it_scores(make_model, monkeypatch):
    """Evaluation memory does not grow with vocabulary x length: each forward returns the logits of
    the scored positions only, and long rows go one at a time (perplexity.BATCH_TOKENS)."""
    from longft.eval import perplexity

    model = make_model()
    docs = [torch.randint(3, 300, (200,), generator=torch.Generator().manual_seed(s)).tolist() for s in range(3)]
    whole = fixed_target_perplexity(model, docs, [16, 64], target_tokens=8)
    shapes = []

    class Recording:
        device, config = model.device, model.config

        def __call__(self, **kwargs):
            out = model(**kwargs)
            shapes.append(tuple(out.logits.shape[:2]))
            return out

    monkeypatch.setattr(perplexity, "BATCH_TOKENS", 64)
    one_by_one = fixed_target_perplexity(Recording(), docs, [16, 64], target_tokens=8)
    assert all(math.isclose(one_by_one[c], whole[c], rel_tol=1e-5) for c in whole)
    assert shapes == [(3, 9), (1, 9), (1, 9), (1, 9)]  # 3 rows of 16 tokens in one batch; 64 tokens: one each
    shapes.clear()
    sliding_window_perplexity(Recording(), docs[:1], window=64, stride=32)
    assert shapes[0] == (1, 64) and all(n <= 33 for _, n in shapes[1:])


def test_many_scored_tokens_get_their_logits_in_chunks_with_the_same_values(make_model, monkeypatch):
    """Scoring every token of a long document never holds its full logits: past LOGIT_CHUNK scored
    tokens they are made a chunk at a time from the final hidden states, to the same NLL."""
    from longft.eval import perplexity

    model = make_model()
    ids = torch.randint(3, 300, (1, 60), generator=torch.Generator().manual_seed(1))
    whole = token_nll(model, ids)
    heads = []
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, i, o: heads.append(o.shape[1]))
    monkeypatch.setattr(perplexity, "LOGIT_CHUNK", 16)
    chunked = token_nll(model, ids)
    handle.remove()
    assert torch.allclose(chunked, whole, atol=1e-5) and chunked.shape == (1, 59)
    assert max(heads) == 16 and sum(heads) == 59 + 1  # the chunks, and the one position the forward keeps


def test_sliding_window_with_a_window_over_the_document_is_plain_perplexity(make_model):
    model = make_model()
    doc = torch.randint(3, 300, (50,), generator=torch.Generator().manual_seed(0)).tolist()
    full = math.exp(token_nll(model, torch.tensor([doc])).mean().item())
    assert math.isclose(sliding_window_perplexity(model, [doc], window=64, stride=32), full, rel_tol=1e-5)
    # a smaller window scores every token once too, with less context
    assert not math.isclose(sliding_window_perplexity(model, [doc], window=16, stride=8), full, rel_tol=1e-4)


def test_passkey_prompts_fit_and_place_the_needle(tokenizer):
    text = "\n".join(f"def f{i}(x):\n    return x * {i}" for i in range(400))
    filler = filler_lines_from([text], tokenizer)
    key = 48213
    for depth in (0.0, 0.5, 1.0):
        ids = code_prompt(tokenizer, filler, 512, depth, key, random.Random(0))
        assert len(ids) <= 512 and len(ids) > 400
        decoded = tokenizer.decode(ids)
        at = decoded.index(f"passkey = {key}") / len(decoded)
        assert abs(at - depth) < 0.1
        assert decoded.endswith("passkey =")  # no trailing space: the key keeps its leading-space token
    ids = landmark_prompt(tokenizer, 600, 0.5, key)
    assert len(ids) <= 600 and f"pass key is {key}" in tokenizer.decode(ids)


class _ReadsTheNeedle:
    """A stand-in model that answers with the key written in its prompt, and keeps every prompt."""

    device = torch.device("cpu")

    def __init__(self, tokenizer):
        self.tokenizer, self.prompts = tokenizer, []

    def generate(self, input_ids, **kwargs):
        prompt = self.tokenizer.decode(input_ids[0])
        self.prompts.append(prompt)
        key = prompt.split("passkey = ")[1].split()[0]
        answer = self.tokenizer(f" {key}", add_special_tokens=False)["input_ids"]
        return torch.cat([input_ids, torch.tensor([answer])], dim=1)


def test_the_passkey_seed_draws_the_grid(tokenizer):
    text = "\n".join(f"def f{i}(x):\n    return x * {i}" for i in range(400))

    def grid(seed):
        model = _ReadsTheNeedle(tokenizer)
        out = passkey_grid(model, tokenizer, [256], [0.0, 1.0], 3, "code", [text], seed=seed)
        return out, model.prompts

    first, prompts = grid(0)
    again, same = grid(0)
    other, different = grid(1)
    assert first["accuracy"] == [[1.0, 1.0]] and first["seed"] == 0 and other["seed"] == 1
    assert prompts == same and len(prompts) == 6
    assert all(a != b for a, b in zip(prompts, different))


def test_report_writes_plots_json_and_table(tmp_path):
    result = {
        "label": "m",
        "fixed_target_ppl": {"128": 5.0, "256": 4.0},
        "target_tokens": 64,
        "sliding_window_ppl": {"256": 4.5},
        "passkey": {"lengths": [256], "depths": [0.0, 1.0], "trials": 2, "template": "code", "accuracy": [[0.5, 1.0]]},
    }
    table = write_report([result], 128, 256, tmp_path)
    assert "ppl@256" in table and "75%" in table
    for name in ("report.json", "perplexity_by_length.png", "passkey_grid.png", "summary.txt"):
        assert (tmp_path / name).stat().st_size > 0


def test_eval_takes_the_testbed_base_by_name(checkpoint, tmp_path, monkeypatch):
    """`longft eval CKPT --base testbed` scores the base longft builds, whose folder is a hashed cache path."""
    import json

    from longft import pipeline  # noqa: F401  (registers the named models)
    from longft.cli import main
    from longft.models import NAMED_MODELS

    built = []
    monkeypatch.setitem(NAMED_MODELS, "testbed", lambda: built.append("testbed") or checkpoint)
    out = tmp_path / "report"
    code = main(["eval", str(checkpoint), "--base", "testbed", "--suite", "ruler", "--lengths", "256",
                 "--tasks", "niah_single_1", "--out", str(out), "--eval.ruler_depths", "[0.0]", "--eval.ruler_trials", "1"])
    assert code == 0 and built == ["testbed"]
    models = json.loads((out / "report.json").read_text())["models"]
    assert [m["label"] for m in models] == ["base", checkpoint.name]


@pytest.mark.parametrize("windows,scored", [(None, [256, 1024]), ([], []), ([512], [512])])
def test_sliding_windows_are_the_window_and_target_unless_the_recipe_names_them(monkeypatch, windows, scored):
    from longft.eval import suite
    from longft.recipe.schema import EvalConfig

    seen = []
    monkeypatch.setattr(suite, "long_documents", lambda *a: [list(range(3000))])
    monkeypatch.setattr(suite, "fixed_target_perplexity", lambda *a, **k: {1024: 2.0})
    monkeypatch.setattr(suite, "sliding_window_perplexity", lambda model, docs, w, stride: seen.append(w) or 3.0)
    monkeypatch.setattr(suite, "passkey_grid", lambda *a, **k: {"lengths": [], "depths": [], "accuracy": []})
    ev = EvalConfig(sliding_windows=windows, context_lengths=[1024])
    out = suite.standard_suite(None, None, ev, window=256, target_len=1024, progress=lambda m: None)
    assert seen == scored and list(out["sliding_window_ppl"]) == [str(w) for w in scored]


def test_a_bad_sliding_window_fails_at_load():
    from longft.errors import RecipeError
    from longft.recipe.schema import EvalConfig

    with pytest.raises(RecipeError, match=r"eval.sliding_windows has 0"):
        EvalConfig(sliding_windows=[0]).validate()
