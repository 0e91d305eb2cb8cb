"""eval: what the evaluation after training measures (perplexity by length, passkey, the RULER-style suite).

The RULER task, scoring and template names and the sources are checked by `longft.validation`."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import RecipeError
from .checks import check_choice, check_depths, check_number_in, check_positive, check_seed

PASSKEY_TEMPLATES = ("code", "landmark")
MIN_PASSKEY_LENGTH = 32
EVAL_SUITES = ("standard", "ruler")
EVAL_DTYPES = ("float32", "bfloat16", "auto")  # auto: bfloat16 where bf16 is native (longft.precision)
MIN_RULER_LENGTH = 192  # the longest task text, needles and answers fit with room to spare


@dataclass
class EvalConfig:
    enabled: bool = True
    sources: list = field(default_factory=lambda: [{"type": "testbed", "split": "heldout"}])
    num_docs: int = 16  # held-out documents scored per length
    # Fixed-target perplexity: the last `target_tokens` of a prefix scored with growing context.
    context_lengths: list = field(default_factory=list)  # empty: derived from the original window
    target_tokens: int = 64
    sliding_stride: int | None = None  # empty: half the evaluated window
    # sliding-window perplexity's window lengths: empty (None) the original window and the target;
    # [] none (each window of the target's length costs a forward per stride of the document)
    sliding_windows: list | None = None
    passkey_lengths: list = field(default_factory=list)
    passkey_depths: list = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    passkey_trials: int = 4
    passkey_template: str = "code"
    passkey_seed: int = 0  # draws the keys and haystack offsets; another seed gives another grid of prompts
    compare_base: bool = True  # also evaluate the unextended base model
    # the base model with these position methods at the target factor, zero-shot (no training)
    zero_shot_baselines: list = field(default_factory=list)
    # which suites run: "standard" (perplexity + passkey) and/or "ruler" (the RULER-style tasks)
    suites: list = field(default_factory=lambda: ["standard"])
    ruler_tasks: list = field(default_factory=list)  # empty: every task
    ruler_lengths: list = field(default_factory=list)  # empty: the original window doubled up to the target
    ruler_depths: list = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    ruler_trials: int = 2  # samples per task, length and depth
    ruler_scoring: str = "generation"  # RULER's exact match, or "loglik": the answer ranked among distractors
    ruler_template: str = "ruler"  # RULER's English templates, or "code" (the same tasks as Python source)
    ruler_distractors: int = 9  # wrong answers each true answer is ranked against (loglik)
    ruler_threshold_ratio: float = 0.9  # effective length: average >= ratio x the reference's score at L
    ruler_seed: int = 0
    # passkey and RULER prompts as the user's turn of the tokenizer's chat template, the answer prefix
    # opening the assistant's (RULER's way for instruct models); refused for a tokenizer without one
    chat_template: bool = False
    # the weights' dtype while scoring: float32, bfloat16 (about 3x faster for a real model on a CPU with
    # native bf16, 4x slower on one without: longft.precision) or auto (bfloat16 only where native);
    # RoPE angles are still computed in float32
    dtype: str = "float32"

    def validate(self) -> None:
        check_choice("eval.passkey_template", self.passkey_template, PASSKEY_TEMPLATES)
        check_choice("eval.dtype", self.dtype, EVAL_DTYPES)
        check_positive("eval.target_tokens", self.target_tokens)
        check_positive("eval.num_docs", self.num_docs)
        check_positive("eval.passkey_trials", self.passkey_trials)
        check_seed("eval.passkey_seed", self.passkey_seed)  # the parser has already refused non-integers
        if self.sliding_stride is not None:
            check_positive("eval.sliding_stride", self.sliding_stride)
        for n in self.sliding_windows or []:
            if not isinstance(n, int) or isinstance(n, bool) or n < 2:
                raise RecipeError(f"eval.sliding_windows has {n!r}: each window is an integer >= 2 tokens, "
                                  "or the list is empty for none")
        for n in self.passkey_lengths:
            if not isinstance(n, int) or n < MIN_PASSKEY_LENGTH:
                raise RecipeError(
                    f"eval.passkey_lengths has {n!r}: each length is an integer >= {MIN_PASSKEY_LENGTH} "
                    "(room for the key and the question)"
                )
        check_depths("eval.passkey_depths", self.passkey_depths)
        for n in self.context_lengths:
            if not isinstance(n, int):
                raise RecipeError(f"eval.context_lengths has {n!r}: lengths are integers >= eval.target_tokens")
            if int(n) < self.target_tokens:
                raise RecipeError(
                    f"eval.context_lengths has {n}: every context must hold the {self.target_tokens} target tokens"
                )
        for method in self.zero_shot_baselines:
            check_choice("eval.zero_shot_baselines[]", method, ("linear", "dynamic", "yarn", "llama3", "logn", "hybrid", "sinks"))
        self._validate_ruler()

    def _validate_ruler(self) -> None:
        if not self.suites:
            raise RecipeError("eval.suites is empty; list 'standard', 'ruler' or both")
        for suite in self.suites:
            check_choice("eval.suites[]", suite, EVAL_SUITES)
        check_positive("eval.ruler_trials", self.ruler_trials)
        check_seed("eval.ruler_seed", self.ruler_seed)
        check_positive("eval.ruler_distractors", self.ruler_distractors)
        check_number_in("eval.ruler_threshold_ratio", self.ruler_threshold_ratio, 0.0, 1.0, low_open=True)
        for n in self.ruler_lengths:
            if not isinstance(n, int) or isinstance(n, bool) or n < MIN_RULER_LENGTH:
                raise RecipeError(
                    f"eval.ruler_lengths has {n!r}: each length is an integer >= {MIN_RULER_LENGTH} (room for the "
                    "task text, the needles and the answer)"
                )
        check_depths("eval.ruler_depths", self.ruler_depths)
