"""Evaluation prompts in a chat template (eval.chat_template): RULER samples and passkey prompts keep
their length with the needles where they say, the template's own rendering of the user's turn is what
the model reads, the answer prefix opens the assistant's turn, and a tokenizer without a template is
refused in one line before any model loads."""
from __future__ import annotations

import copy
import random

import pytest

from longft.errors import RecipeError
from longft.eval.chat import chat_frame, tail_ids
from longft.eval.passkey import code_prompt, filler_lines_from, landmark_prompt
from longft.eval.ruler import TASKS
from longft.eval.ruler.haystack import Haystack
from longft.eval.ruler.run import generate_samples
from longft.eval.ruler.sample import SNAP_REACH
from longft.recipe.schema import EvalConfig

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_tokenizer(tokenizer):
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = CHATML
    return chat


@pytest.fixture(scope="module")
def haystack(tokenizer):
    from longft.data.sources import load_documents

    texts = list(load_documents([{"type": "testbed", "split": "heldout", "max_files": 20}])["text"])
    return Haystack(tokenizer, texts)


def _user_turn(tokenizer, ids, frame, prefix_tokens):
    """The user's message as text, read back from a framed prompt."""
    return tokenizer.decode(ids[len(frame.before): len(ids) - len(frame.after) - prefix_tokens])


@pytest.mark.parametrize("template", ["ruler", "code"])
@pytest.mark.parametrize("task", ["niah_single_1", "niah_multikey_1", "vt", "cwe", "fwe"])
def test_a_framed_ruler_sample_keeps_its_length_and_its_needles(task, template, chat_tokenizer, haystack):
    ev = EvalConfig(ruler_template=template, ruler_depths=[0.5], ruler_trials=1)
    frame = chat_frame(chat_tokenizer)
    (_, plain), = generate_samples(chat_tokenizer, haystack, ev, task, 1024)
    (_, framed), = generate_samples(chat_tokenizer, haystack, ev, task, 1024, frame)
    assert len(framed.input_ids) + framed.max_new_tokens <= 1024  # the frame is paid for out of the haystack
    if TASKS[task].has_depth or task == "vt":  # these fill the length exactly; word lists stop a word short
        assert len(framed.input_ids) == len(plain.input_ids)
    assert framed.input_ids[:len(frame.before)] == frame.before
    prefix = framed.input_ids[len(framed.input_ids) - framed.answer_prefix_tokens:]
    assert framed.input_ids[-len(prefix) - len(frame.after):-len(prefix)] == frame.after
    assert prefix and prefix == plain.input_ids[len(plain.input_ids) - plain.answer_prefix_tokens:]
    assert len(framed.needle_starts) == len(plain.needle_starts)
    for s, n in zip(framed.needle_starts, framed.needle_lengths):
        assert chat_tokenizer.decode(framed.input_ids[s:s + n]) in chat_tokenizer.decode(plain.input_ids)
    if task.startswith("niah"):
        first = framed.needle_starts[0]
        assert framed.answers[0] in chat_tokenizer.decode(framed.input_ids[first:first + framed.needle_lengths[0]])
    start, end = framed.context_span
    assert len(frame.before) <= start < end < len(framed.input_ids) - len(frame.after)
    # what the model reads is the template's own rendering of the user's message
    user = _user_turn(chat_tokenizer, framed.input_ids, frame, framed.answer_prefix_tokens)
    rendered = chat_tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                  add_generation_prompt=True)
    assert chat_tokenizer.decode(framed.input_ids[:len(framed.input_ids) - framed.answer_prefix_tokens]) == rendered
    assert framed.answers == plain.answers


@pytest.mark.parametrize("depth", [0.0, 0.5, 1.0])
def test_framed_needle_sits_where_the_sample_says(depth, chat_tokenizer, haystack):
    ev = EvalConfig(ruler_template="ruler", ruler_depths=[depth], ruler_trials=1)
    (_, s), = generate_samples(chat_tokenizer, haystack, ev, "niah_single_1", 1024, chat_frame(chat_tokenizer))
    start, end = s.context_span
    first = s.needle_starts[0]
    # in filler coordinates, moved at most SNAP_REACH tokens to a line or sentence end
    assert abs(first - start - round(depth * ((end - start) - s.needle_lengths[0]))) <= SNAP_REACH
    assert s.answers[0] in chat_tokenizer.decode(s.input_ids[first:first + s.needle_lengths[0]])


def test_framed_passkey_prompts_fit_and_keep_the_key_in_the_users_turn(chat_tokenizer):
    frame = chat_frame(chat_tokenizer)
    filler = filler_lines_from(["x = 1\ny = 2\nprint(x + y)\n" * 200], chat_tokenizer)
    key = 48213
    for build in (lambda: landmark_prompt(chat_tokenizer, 600, 0.5, key, frame),
                  lambda: code_prompt(chat_tokenizer, filler, 600, 0.5, key, random.Random(0), frame)):
        ids = build()
        assert 560 <= len(ids) <= 600 and ids[:len(frame.before)] == frame.before
        text = chat_tokenizer.decode(ids)
        assert text.index(str(key)) < text.index("<|im_start|>assistant")
        assert text.rstrip().endswith(("The pass key is", "passkey ="))


def test_tail_ids_keep_the_plain_prompts_tokens(tokenizer):
    ids, n = tail_ids(tokenizer, " What is the pass key?", " The pass key is")
    assert ids == tokenizer(" What is the pass key? The pass key is", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids[-n:]) == " The pass key is"


def test_a_tokenizer_without_a_chat_template_is_refused_in_one_line(tokenizer):
    with pytest.raises(RecipeError) as err:
        chat_frame(tokenizer)
    assert "\n" not in str(err.value) and "eval.chat_template" in str(err.value)


def test_a_recipe_asking_for_a_template_the_tokenizer_lacks_fails_before_training(tmp_path):
    from longft.pipeline import check_eval_inputs, planned_stages
    from longft.validation import load_recipe

    recipe = load_recipe("tiny-yarn-4x", {"output_dir": str(tmp_path), "eval": {"chat_template": True}})
    with pytest.raises(RecipeError, match="chat template"):
        check_eval_inputs(planned_stages(recipe)[-1][1])


def test_every_task_is_framed(chat_tokenizer, haystack):
    ev = EvalConfig(ruler_template="ruler", ruler_depths=[0.5], ruler_trials=1)
    frame = chat_frame(chat_tokenizer)
    for name in TASKS:
        (_, s), = generate_samples(chat_tokenizer, haystack, ev, name, 1024, frame)
        assert s.input_ids[:len(frame.before)] == frame.before and s.answer_prefix_tokens > 0, name
