"""Run the RULER-style tasks on one model over lengths x depths, the same samples for every model."""
from __future__ import annotations

import random
import time
import zlib

from ...errors import RecipeError
from . import TASKS
from .sample import bos, in_chat_frame
from .scoring import SCORERS
from .templates import TEMPLATES


def ruler_lengths(ev, window: int, target: int) -> list[int]:
    """The recipe's lengths, else the original window doubled up to the target."""
    if ev.ruler_lengths:
        return sorted(int(n) for n in ev.ruler_lengths)
    out, n = [], window
    while n < target:
        out.append(n)
        n *= 2
    return out + [target]


def hard_length_limit(config) -> int | None:
    """A model with learned absolute positions cannot read past them; RoPE models can (that is what
    is measured), so they have no hard limit."""
    if getattr(config, "rope_parameters", None) or getattr(config, "rope_theta", None):
        return None
    for attr in ("n_positions", "max_position_embeddings"):
        if getattr(config, attr, None):
            return int(getattr(config, attr))
    return None


def check_lengths(config, lengths: list[int], label: str) -> None:
    limit = hard_length_limit(config)
    too_long = [n for n in lengths if limit is not None and n > limit]
    if too_long:
        raise RecipeError(
            f"eval.ruler_lengths has {too_long[0]}, but {label} ({getattr(config, 'model_type', '?')}) has learned "
            f"absolute positions up to {limit}: use lengths <= {limit}"
        )


def _rng(seed: int, task: str, length: int, depth, trial: int) -> random.Random:
    return random.Random(zlib.crc32(f"{seed}|{task}|{length}|{depth}|{trial}".encode()))


def generate_samples(tokenizer, haystack, ev, task_name: str, length: int, frame=None):
    """Every sample of one task at one length, as (depth, sample); seeded by cell, not by order.
    `frame`: the chat template the samples are put in (eval.chat_template), at the same length."""
    task = TASKS[task_name]
    template = TEMPLATES[ev.ruler_template]
    depths = [float(d) for d in ev.ruler_depths] if task.has_depth else [None]
    inner = length - frame.overhead(len(bos(tokenizer))) if frame else length
    # a generated answer gets the room RULER gives it; a ranked one is only its own tokens
    reserve = template.tokens_to_generate.get(task.family, 0) if ev.ruler_scoring == "generation" else 0
    for depth in depths:
        for trial in range(ev.ruler_trials):
            rng = _rng(ev.ruler_seed, task_name, length, depth, trial)
            sample = task.generate(tokenizer, haystack, template, inner, depth if depth is not None else 0.0,
                                   rng, ev.ruler_distractors, reserve)
            yield depth, (in_chat_frame(tokenizer, sample, frame, length) if frame else sample)


def check_tasks_fit(tokenizer, haystack, ev, length: int, frame=None) -> None:
    """One sample of each task at the shortest length: a task whose text does not fit is refused
    here, naming it, instead of failing midway through an evaluation."""
    for name in list(ev.ruler_tasks) or list(TASKS):
        try:
            next(generate_samples(tokenizer, haystack, ev, name, length, frame))
        except ValueError as exc:
            raise RecipeError(
                f"eval.ruler_lengths has {length}: {exc}; use longer lengths or leave {name} out of eval.ruler_tasks"
            ) from None


def run_ruler(model, tokenizer, haystack, ev, lengths: list[int], progress, frame=None) -> dict:
    tasks = list(ev.ruler_tasks) or list(TASKS)
    scorer = SCORERS[ev.ruler_scoring]
    start = time.time()
    per_task: dict[str, dict] = {}
    for length in lengths:
        row = []
        progress(f"RULER at {length} tokens: {len(tasks)} tasks, {ev.ruler_scoring} scoring")
        for k, name in enumerate(tasks, 1):
            cells: dict = {}
            outputs = []
            for depth, sample in generate_samples(tokenizer, haystack, ev, name, length, frame):
                score, output = scorer(model, tokenizer, sample)
                cells.setdefault(depth, []).append(score)
                # what the model gave (its text, or each answer's rank among the distractors): a 0
                # can then be read as a wrong answer, a right one in another form, or no answer
                outputs.append({"depth": depth, "answers": sample.answers, "output": output, "score": score})
            entry = per_task.setdefault(name, {"depths": list(cells), "scores": {}, "average": {}, "outputs": {}})
            entry["outputs"][str(length)] = outputs
            entry["scores"][str(length)] = [sum(v) / len(v) for v in cells.values()]
            entry["average"][str(length)] = sum(sum(v) for v in cells.values()) / sum(len(v) for v in cells.values())
            row.append(entry["average"][str(length)])
            # one line per task: at paper-scale lengths a single length can take hours
            progress(f"RULER at {length} tokens: {name} {100 * row[-1]:.1f} ({k}/{len(tasks)} tasks, "
                     f"{time.time() - start:.0f}s)")
        progress(f"RULER at {length} tokens: average {100 * sum(row) / len(row):.1f} over {len(tasks)} tasks "
                 f"({ev.ruler_scoring}, {time.time() - start:.0f}s)")
    average = {str(n): sum(per_task[t]["average"][str(n)] for t in tasks) / len(tasks) for n in lengths}
    return {"scoring": ev.ruler_scoring, "template": ev.ruler_template, "chat_template": frame is not None,
            "lengths": lengths, "tasks": per_task,
            "average": average, "trials": ev.ruler_trials, "distractors": ev.ruler_distractors}
