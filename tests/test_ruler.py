"""The RULER-style suite: generators (deterministic, needle at the requested token, answers only in
their needles), scoring of known right and wrong answers, effective length on hand-made scores."""
import random
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from longft.eval.ruler import TASKS
from longft.eval.ruler.effective_length import add_effective_lengths, effective_length, threshold_from
from longft.eval.ruler.haystack import Haystack
from longft.eval.ruler.run import generate_samples, run_ruler
from longft.eval.ruler.sample import SNAP_REACH, Sample
from longft.eval.ruler.scoring import continuation_logprobs, score_generation, score_loglik, string_match_all, string_match_part
from longft.eval.ruler.templates import TEMPLATES

NIAH = [name for name, task in TASKS.items() if task.family == "niah"]


@pytest.fixture(scope="module")
def haystack(tokenizer):
    from longft.data.sources import load_documents

    texts = list(load_documents([{"type": "testbed", "split": "heldout", "max_files": 20}])["text"])
    return Haystack(tokenizer, texts)


def generate(task, tokenizer, haystack, template, length, depth, seed):
    return TASKS[task].generate(tokenizer, haystack, TEMPLATES[template], length, depth, random.Random(seed), 9)


@pytest.mark.parametrize("template", list(TEMPLATES))
@pytest.mark.parametrize("task", list(TASKS))
def test_generator_is_deterministic_from_its_seed(task, template, tokenizer, haystack):
    a = generate(task, tokenizer, haystack, template, 512, 0.5, seed=3)
    b = generate(task, tokenizer, haystack, template, 512, 0.5, seed=3)
    c = generate(task, tokenizer, haystack, template, 512, 0.5, seed=4)
    assert a.input_ids == b.input_ids and a.answers == b.answers and a.distractors == b.distractors
    assert a.input_ids != c.input_ids and a.answers != c.answers
    assert len(a.input_ids) + a.max_new_tokens <= 512


@pytest.mark.parametrize("task", NIAH + ["vt"])
@pytest.mark.parametrize("depth", [0.0, 0.3, 0.5, 1.0])
def test_first_needle_sits_at_the_requested_depth(task, depth, tokenizer, haystack):
    s = generate(task, tokenizer, haystack, "code", 1024, depth, seed=1)
    assert len(s.input_ids) + s.max_new_tokens == 1024  # the prompt fills the length exactly
    start, end = s.context_span
    filler_len = (end - start) - sum(s.needle_lengths)
    first = s.needle_starts[0]
    # needles inserted before the first one shift it; in filler coordinates it is at round(depth * filler)
    before = sum(n for st, n in zip(s.needle_starts, s.needle_lengths) if st < first)
    # at the requested depth, moved at most SNAP_REACH tokens to a line or sentence end
    assert abs(first - start - before - round(depth * filler_len)) <= SNAP_REACH
    decoded = tokenizer.decode(s.input_ids[first : first + s.needle_lengths[0]])
    assert s.answers[0] in decoded


@pytest.mark.parametrize("template", ["code", "ruler"])
@pytest.mark.parametrize("task", ["niah_single_1", "niah_multikey_1", "vt"])
def test_needles_go_between_lines_or_sentences_never_inside_a_word(task, template, tokenizer, haystack):
    for seed in range(4):
        s = generate(task, tokenizer, haystack, template, 1024, 0.5, seed=seed)
        start = s.context_span[0]
        for a in s.needle_starts:
            before = tokenizer.decode(s.input_ids[start:a])
            assert before == "" or before.endswith("\n") or before.rstrip(" ").endswith((".", "!", "?")), \
                (seed, before[-40:])


def test_the_haystack_ends_at_a_line_or_sentence_end_so_no_cut_word_meets_the_question(tokenizer, haystack):
    rng = random.Random(0)
    for n in (97, 300, 511, 1000):
        for _ in range(3):
            text = tokenizer.decode(haystack.text(n, rng, avoid=[]))
            assert text.endswith("\n") or text.rstrip(" ").endswith((".", "!", "?")), (n, text[-40:])
            assert len(haystack.text(n, rng, avoid=[])) == n  # still exactly n tokens
        noise = haystack.repeat(n)
        assert len(noise) == n and tokenizer.decode(noise).endswith("."), (n, tokenizer.decode(noise)[-40:])


def test_niah_single_1_hides_its_needle_in_rulers_noise_under_the_ruler_template(tokenizer, haystack):
    """RULER's niah_single_1 is its passkey-like task (type_haystack: repeat); the code template, for
    models that only read code, keeps held-out text."""
    ruler = generate("niah_single_1", tokenizer, haystack, "ruler", 1024, 0.5, seed=0)
    start, end = ruler.context_span
    context = tokenizer.decode(ruler.input_ids[start:end])
    assert context.count("The grass is green.") > 10
    code = generate("niah_single_1", tokenizer, haystack, "code", 1024, 0.5, seed=0)
    assert "The grass is green." not in tokenizer.decode(code.input_ids)
    other = generate("niah_single_2", tokenizer, haystack, "ruler", 1024, 0.5, seed=0)
    assert "The grass is green." not in tokenizer.decode(other.input_ids)


@pytest.mark.parametrize("task", NIAH)
def test_answers_appear_only_in_their_needles(task, tokenizer, haystack):
    for seed in range(3):
        s = generate(task, tokenizer, haystack, "code", 768, 0.5, seed=seed)
        prompt = tokenizer.decode(s.input_ids)
        needles = "".join(tokenizer.decode(s.input_ids[a : a + n]) for a, n in zip(s.needle_starts, s.needle_lengths))
        for answer in s.answers:
            assert prompt.count(answer) == needles.count(answer) == 1, answer
        for wrong in s.distractors[0]:
            assert wrong.strip().strip('"') not in s.answers


def test_multikey_distractors_are_the_other_needles_values(tokenizer, haystack):
    s = generate("niah_multikey_1", tokenizer, haystack, "code", 768, 0.25, seed=0)
    assert len(s.needle_starts) == 4 and len(s.answers) == 1
    in_context = [w for w in s.distractors[0] if w.strip() in tokenizer.decode(s.input_ids)]
    assert len(in_context) == 3  # the three distractor needles' values are ranked against the answer


def test_variable_tracking_chain_reaches_every_answer(tokenizer, haystack):
    s = generate("vt", tokenizer, haystack, "code", 1024, 0.2, seed=5)
    text = tokenizer.decode(s.input_ids)
    chain = s.answers
    assert len(chain) == 5
    assert all(text.count(f"\n{chain[i]} = {chain[i - 1]}\n") == 1 for i in range(1, 5))
    assert sorted(s.needle_starts) == s.needle_starts  # hops come after the first assignment, in order


def test_common_words_counts(tokenizer, haystack):
    s = generate("cwe", tokenizer, haystack, "code", 2048, None, seed=2)
    listed = Counter(w.strip(' ",') for w in tokenizer.decode(s.input_ids[slice(*s.context_span)]).split(","))
    top = {w for w, _ in listed.most_common(len(s.answers))}
    assert top == set(s.answers)
    assert min(listed[w] for w in s.answers) > max(c for w, c in listed.items() if w not in s.answers)


def test_frequent_words_top_three_strictly_ordered(tokenizer, haystack):
    s = generate("fwe", tokenizer, haystack, "code", 1024, None, seed=2)
    words = Counter(tokenizer.decode(s.input_ids[slice(*s.context_span)]).replace("....", " ").split())
    ranked = [w for w, _ in words.most_common(4)]
    assert ranked[:3] == s.answers
    assert words[ranked[2]] > words[ranked[3]]


def test_string_match_metrics_score_known_answers():
    assert string_match_all("the numbers are 123 and 456.", ["123", "456", "789"]) == pytest.approx(2 / 3)
    assert string_match_all("ABC-def", ["abc-DEF"]) == 1.0
    assert string_match_part("only 456 here", ["123", "456"]) == 1.0
    assert string_match_part("nothing", ["123", "456"]) == 0.0


class OracleModel:
    """Not a transformers model: favours one token per position of `favoured` after the prompt."""

    def __init__(self, vocab, favoured):
        self.vocab, self.favoured, self.device = vocab, favoured, torch.device("cpu")

    def __call__(self, input_ids, **kwargs):
        logits = torch.zeros(1, input_ids.shape[1], self.vocab)
        for i, tok in enumerate(self.favoured):
            logits[0, self.prompt_len - 1 + i, tok] = 5.0
        return SimpleNamespace(logits=logits)


def test_loglik_scoring_ranks_the_favoured_answer_first(tokenizer):
    right, wrong = " 1234567", " 7654321"
    ids = tokenizer(right, add_special_tokens=False)["input_ids"]
    sample = Sample(task="t", length=32, depth=0.5, input_ids=[5, 6, 7, 8], answers=["1234567"],
                    continuations=[right], distractors=[[wrong]])
    model = OracleModel(len(tokenizer), ids)
    model.prompt_len = 4
    assert score_loglik(model, tokenizer, sample)[0] == 1.0
    model.favoured = tokenizer(wrong, add_special_tokens=False)["input_ids"]
    assert score_loglik(model, tokenizer, sample)[0] == 0.0


def test_cached_continuation_scores_equal_full_forward(make_model):
    model = make_model(vocab_size=100, window=64)
    prompt = list(range(3, 40))
    conts = [[5, 6, 7], [9], [11, 12]]
    cached = continuation_logprobs(model, prompt, conts)

    def full(cont):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + cont])).logits[0, len(prompt) - 1 : -1]
        return float(logits.log_softmax(-1).gather(1, torch.tensor(cont)[:, None]).sum())

    assert cached == pytest.approx([full(c) for c in conts], abs=1e-4)


@pytest.mark.parametrize("stream", ["sinks", "fot", "landmark"])
def test_streamed_models_score_continuations_from_a_fork_as_a_full_read(make_model, stream):
    """A sink cache, a FoT memory or a landmark block cache reads the prompt once; each continuation
    from a fork of that state scores what reading it again from scratch scores (here across window
    and block edges). A sink cache and a block cache read prompt + continuation as one; FoT, as LongLLaMA, places a read's last window by where the read
    ends, so there the fresh reference reads the prompt and then the continuation, as generation does."""
    from longft.methods.registry import use_attention
    from longft.methods.sinks.stream import StreamingSinkModel
    from longft.methods.fot.memory import FotMemoryModel
    from longft.recipe.schema import AttentionConfig

    model = make_model(vocab_size=100, window=16)
    if stream == "sinks":
        wrapped = StreamingSinkModel(model, sinks=2, window=10)
    elif stream == "landmark":
        from longft.methods.landmark.attention import register
        from longft.methods.landmark.memory import LandmarkMemoryModel

        model.set_attn_implementation(register({"mem_freq": 4}))
        wrapped = LandmarkMemoryModel(model, 4, top_k=2, local_blocks=1, landmark=99)
    else:
        params = {"memory_layers": [1], "window": 16, "windows_per_stream": 1, "cross_batch": 0}
        wrapped = FotMemoryModel(use_attention(model, AttentionConfig(method="fot", params=params), 16), 16, [1],
                                 last_context_length=12)
    prompt = list(range(3, 45))  # ends inside the third window; continuations cross into the fourth
    conts = [[5, 6, 7, 8, 9, 10, 11], [9], [11, 12]]
    forked = continuation_logprobs(wrapped, prompt, conts)

    def full(cont):
        if stream in ("sinks", "landmark"):
            logits = wrapped(input_ids=torch.tensor([prompt + cont])).logits[0, len(prompt) - 1 : -1]
        else:
            fresh = wrapped.stream()
            logits = fresh.feed(prompt)[-1:]
            if len(cont) > 1:
                logits = torch.cat([logits, fresh.feed(cont[:-1])])
        return float(logits.log_softmax(-1).gather(1, torch.tensor(cont)[:, None]).sum())

    assert forked == pytest.approx([full(c) for c in conts], abs=1e-4)
    assert forked == pytest.approx(continuation_logprobs(wrapped, prompt, conts), abs=1e-6)  # forks left it intact


def test_generation_scoring_reads_the_generated_text(tokenizer):
    answer_ids = tokenizer(" 1234567", add_special_tokens=False)["input_ids"]

    class Echo:
        device = torch.device("cpu")

        def generate(self, input_ids, max_new_tokens, **kwargs):
            return torch.cat([input_ids, torch.tensor([answer_ids])], dim=1)

    sample = Sample(task="t", length=32, depth=0.0, input_ids=[5, 6], answers=["1234567", "999"],
                    continuations=[" 1234567", " 999"], distractors=[[], []], max_new_tokens=8)
    score, prediction = score_generation(Echo(), tokenizer, sample)
    assert score == 0.5 and "1234567" in prediction


@pytest.mark.parametrize("task", ["niah_single_1", "vt", "cwe", "fwe"])
def test_a_generated_answer_has_rulers_room_so_a_phrase_before_it_is_not_cut_off(task, tokenizer, haystack):
    """RULER gives a generated answer tokens_to_generate (niah 128, vt 30, cwe 120, fwe 50) and shortens
    the prompt by as much; an instruct model that opens with a phrase of its own ("The number ...")
    had only its answers' length + 4 and was cut off mid-answer, scored 0. Ranking keeps the answers'
    own length."""
    ev = SimpleNamespace(ruler_template="ruler", ruler_depths=[0.5], ruler_trials=1, ruler_seed=0,
                         ruler_distractors=4, ruler_scoring="generation")
    reserve = TEMPLATES["ruler"].tokens_to_generate[TASKS[task].family]
    _, sample = next(generate_samples(tokenizer, haystack, ev, task, 2048))
    assert sample.max_new_tokens == reserve and len(sample.input_ids) + reserve <= 2048
    ev.ruler_scoring = "loglik"
    _, ranked = next(generate_samples(tokenizer, haystack, ev, task, 2048))
    assert ranked.max_new_tokens < reserve

    answer = tokenizer(" " + " ".join(sample.answers), add_special_tokens=False)["input_ids"]
    opening = tokenizer(" Sure! Having read the whole text above with care, here is what it says:" * 4,
                        add_special_tokens=False)["input_ids"]
    phrase = opening[: reserve - len(answer)]  # as long as RULER's room allows
    assert len(phrase) > 4  # more than the 4 tokens beside its answers that a sample had kept

    class Chatty:  # opens with a phrase of its own, then answers; stops where it is told to
        device = torch.device("cpu")

        def generate(self, input_ids, max_new_tokens, **kwargs):
            return torch.cat([input_ids, torch.tensor([(phrase + answer)[:max_new_tokens]])], dim=1)

    assert score_generation(Chatty(), tokenizer, sample)[0] == 1.0


def test_common_words_when_generating_sizes_its_list_from_the_room_left_after_rulers_reserve(tokenizer, haystack):
    """cwe keeps 120 tokens for a generated answer; sized from the whole length, a short prompt asked for
    more common words than fit beside them (320 tokens: 4 words x 5 refused) and the length was refused."""
    ev = SimpleNamespace(ruler_template="ruler", ruler_depths=[0.5], ruler_trials=1, ruler_seed=0,
                         ruler_distractors=4, ruler_scoring="generation")
    counts = []
    for length in (320, 384, 512, 1024):
        _, sample = next(generate_samples(tokenizer, haystack, ev, "cwe", length))
        assert sample.max_new_tokens == 120 and len(sample.input_ids) + 120 <= length
        listed = Counter(tokenizer.decode(sample.input_ids[slice(*sample.context_span)]).split())
        assert all(listed[w] > 3 for w in sample.answers)  # each common word more often than an uncommon one
        counts.append(len(sample.answers))
    assert counts == sorted(counts) and counts[0] >= 1 and counts[-1] == 10


def test_effective_length_on_hand_made_scores():
    averages = {256: 0.92, 512: 0.81, 1024: 0.5, 2048: 0.85}
    assert effective_length(averages, 0.75) == 512  # 2048 passes again, but 1024 broke the run
    assert effective_length(averages, 0.95) == 0
    assert effective_length(averages, 0.4) == 2048
    assert threshold_from({256: 0.8, 512: 0.6}, 256, 0.9) == (pytest.approx(0.72), 256)
    assert threshold_from({512: 0.8, 1024: 0.6}, 256, 0.5) == (pytest.approx(0.4), 512)
    mode = {"scoring": "loglik", "distractors": 9}
    results = [{"label": "base", "ruler": {"average": {"256": 0.8, "512": 0.1}, **mode}},
               {"label": "ext", "ruler": {"average": {"256": 0.75, "512": 0.74}, **mode}}]
    add_effective_lengths(results, 256, 0.9, reference=0)
    assert [r["ruler"]["effective_length"] for r in results] == [256, 512]
    # a base at chance (1 in 10 when ranking among 9 distractors) sets no threshold
    results[0]["ruler"]["average"]["256"] = 0.12
    add_effective_lengths(results, 256, 0.9, reference=0)
    assert [r["ruler"]["effective_length"] for r in results] == [None, None]
    assert "chance" in results[1]["ruler"]["threshold_rule"]


def test_same_samples_for_every_model_and_order(tokenizer, haystack):
    ev = SimpleNamespace(ruler_template="code", ruler_depths=[0.0, 1.0], ruler_trials=2, ruler_seed=0,
                         ruler_distractors=4, ruler_scoring="loglik")
    a = [s.input_ids for _, s in generate_samples(tokenizer, haystack, ev, "niah_single_1", 512)]
    list(generate_samples(tokenizer, haystack, ev, "vt", 512))  # another task in between changes nothing
    b = [s.input_ids for _, s in generate_samples(tokenizer, haystack, ev, "niah_single_1", 512)]
    assert a == b and len(a) == 4


def test_run_ruler_end_to_end_on_a_tiny_model(make_model, tokenizer, haystack):
    model = make_model(vocab_size=len(tokenizer), window=256)
    ev = SimpleNamespace(ruler_tasks=["niah_single_1", "cwe"], ruler_scoring="loglik", ruler_template="code",
                         ruler_depths=[0.0, 1.0], ruler_trials=1, ruler_seed=0, ruler_distractors=3)
    lines = []
    out = run_ruler(model, tokenizer, haystack, ev, [256, 512], progress=lines.append)
    assert set(out["tasks"]) == {"niah_single_1", "cwe"}
    # progress as each length starts, after every task, then the length's average
    assert [" ".join(line.split()[:5]) for line in lines] == [
        "RULER at 256 tokens: 2", "RULER at 256 tokens: niah_single_1", "RULER at 256 tokens: cwe",
        "RULER at 256 tokens: average", "RULER at 512 tokens: 2", "RULER at 512 tokens: niah_single_1",
        "RULER at 512 tokens: cwe", "RULER at 512 tokens: average"]
    assert out["tasks"]["niah_single_1"]["depths"] == [0.0, 1.0]
    assert out["tasks"]["cwe"]["depths"] == [None]
    assert all(0.0 <= v <= 1.0 for v in out["average"].values())
    # each sample's output is kept beside its answers: ranks in loglik mode, one per answer
    cells = out["tasks"]["niah_single_1"]["outputs"]["512"]
    assert [c["depth"] for c in cells] == [0.0, 1.0]
    assert all(len(c["output"]) == len(c["answers"]) and c["score"] == float(c["output"] == [0]) for c in cells)


@pytest.mark.parametrize("mode,lengths", [
    (["--eval.ruler_scoring", "loglik"], [256, 512]),
    # RULER's English prompts keep 128 tokens free for a generated niah answer: 256 would hold no haystack
    (["--eval.ruler_scoring", "generation", "--eval.ruler_template", "ruler"], [512, 1024]),
])
def test_longft_eval_suite_ruler_writes_tables_heatmaps_and_effective_length(mode, lengths, checkpoint, tmp_path,
                                                                             capsys):
    import json

    from longft.cli import main

    out = tmp_path / "report"
    code = main(["eval", str(checkpoint), "--base", str(checkpoint), "--suite", "ruler", "--lengths", *map(str, lengths),
                 "--tasks", "niah_single_1", "vt", "cwe", "--out", str(out), "--eval.ruler_depths", "[0.0, 1.0]",
                 "--eval.ruler_trials", "1", *mode])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    ruler = report["models"][-1]["ruler"]
    assert ruler["scoring"] == mode[1] and ruler["lengths"] == lengths
    assert set(ruler["tasks"]) == {"niah_single_1", "vt", "cwe"}
    assert "effective_length" in ruler and "threshold_rule" in ruler
    assert "fixed_target_ppl" not in report["models"][-1]  # only the suite that was asked for ran
    if mode[1] == "generation":  # the generated text of every sample is in the report
        assert all(isinstance(c["output"], str) for c in ruler["tasks"]["vt"]["outputs"][str(lengths[0])])
    for task in ("niah_single_1", "vt", "cwe"):
        assert (out / f"ruler_{task}.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert f"ruler@{lengths[0]}" in printed and "effective length" in printed


def test_a_recipe_asks_for_the_suite_in_its_eval_section(tmp_path):
    import json

    from longft.cli import main

    out = tmp_path / "run"
    assert main(["train", "tiny-yarn-4x", "--smoke", "--eval.suites", "[standard, ruler]", "--output_dir", str(out)]) == 0
    models = json.loads((out / "report" / "report.json").read_text())["models"]
    assert all("fixed_target_ppl" in m and m["ruler"]["lengths"] == [256] for m in models)
    assert (out / "report" / "ruler_niah_single_1.png").is_file()
