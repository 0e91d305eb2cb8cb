"""Recipe schema: typed dataclasses, one per section, each checking its own fields' ranges.

Names that a registry defines (position methods and schemes, attention methods) are checked
against that registry, so the valid names in an error message are always the registered ones.
Stage kinds and sources are checked on load (`loading.py`), where their registries live.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RecipeError

SPLIT_POLICIES = ("chunk", "truncate", "drop")
PRECISIONS = ("auto", "bf16", "bf16-mixed", "fp32")
LOSS_KERNELS = ("chunked", "liger")  # train.loss_kernel: longft's chunks, Liger's fused kernel
PASSKEY_TEMPLATES = ("code", "landmark")
MIN_PASSKEY_LENGTH = 32
# A recipe's and a stage's name become folder names (runs/<recipe>/<stage>): plain names only, none
# that longft itself writes inside a run folder.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RUN_FOLDER_NAMES = ("report", "initial", "checkpoints", "final", "recipe.json")




@dataclass
class ModelConfig:
    # "testbed" = the tiny Llama that longft pretrains itself; otherwise a local path or hub id.
    name_or_path: str = "testbed"
    tokenizer: str | None = None  # defaults to name_or_path; "testbed" = the testbed BPE tokenizer
    init: str = "pretrained"  # pretrained | scratch (scratch builds `arch` with random weights)
    arch: dict = field(default_factory=dict)  # LlamaConfig fields for init=scratch / smoke stand-ins
    attn_implementation: str = "sdpa"
    family: str = "llama"  # architecture family, used to build the --smoke stand-in

    def validate(self) -> None:
        _choice("model.init", self.init, ("pretrained", "scratch"))
        _choice("model.family", self.family, ("llama", "mistral", "qwen2"))
        if "/" not in self.attn_implementation:  # a kernel from the Hub ("kernels-community/...") is checked on load
            from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

            _choice("model.attn_implementation", self.attn_implementation,
                    ("eager", *(k for k in ALL_ATTENTION_FUNCTIONS.valid_keys() if "|" not in k)))


@dataclass
class PositionConfig:
    method: str = "none"
    factor: float | None = None
    # The window the model was pretrained with. Read from the model config when left empty.
    original_max_position_embeddings: int | None = None
    rope_theta: float | None = None  # new base for method=rope_theta
    params: dict = field(default_factory=dict)  # extra rope_parameters (beta_fast, low_freq_factor, ...)
    # What the collator writes as position ids (positions.schemes.POSITION_SCHEMES): document | pose |
    # randomized | shifted, with the scheme's own settings and the range its positions cover
    # (empty: original window x factor where both are known, else the training length)
    scheme: str = "document"
    scheme_params: dict = field(default_factory=dict)
    scheme_length: int | None = None

    def covered_length(self, seq_len: int) -> int:
        if self.scheme_length:
            return self.scheme_length
        if self.original_max_position_embeddings and self.factor:
            return int(self.original_max_position_embeddings * self.factor)
        return seq_len

    def validate(self) -> None:
        from ..positions.methods import POSITION_METHODS
        from ..positions.schemes import POSITION_SCHEMES

        _choice("position.method", self.method, tuple(POSITION_METHODS))
        _choice("position.scheme", self.scheme, tuple(POSITION_SCHEMES))
        POSITION_METHODS[self.method].validate(self)
        if self.original_max_position_embeddings is not None and self.original_max_position_embeddings < 1:
            raise RecipeError(
                f"position.original_max_position_embeddings = {self.original_max_position_embeddings}: must be >= 1"
            )


@dataclass
class AttentionConfig:
    """Training-time attention. Inference and export always use full attention."""

    method: str = "full"  # a name in attention.registry.ATTENTION_METHODS: full | s2 (LongLoRA) ...
    group_size_ratio: float = 0.25  # S²-Attn: G = seq_len * ratio
    group_size: int | None = None  # S²-Attn: a fixed G instead (SFT on lengths that are not a multiple)
    path: str = "auto"  # the kernel; each method lists its own (full: sdpa, dense, segments, eager, flex, flash)
    # Packed batches up to this length use one dense (N x N) document mask; longer ones a path whose
    # memory is linear in N (per-document SDPA, or flex / flash where chosen).
    dense_mask_max_tokens: int = 8192
    # settings of methods that take their own (logn: base; window: window; hybrid: window, full_layers, logn_base)
    params: dict = field(default_factory=dict)

    def validate(self) -> None:
        from ..attention.registry import ATTENTION_METHODS

        _choice("attention.method", self.method, tuple(ATTENTION_METHODS))
        if not 0 < self.group_size_ratio <= 1:
            raise RecipeError(f"attention.group_size_ratio = {self.group_size_ratio}: must be in (0, 1]")
        _positive("attention.dense_mask_max_tokens", self.dense_mask_max_tokens)


@dataclass
class AdapterConfig:
    method: str = "none"  # none | lora
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # Trained in full beside the adapters (LongLoRA's "LoRA+"): embed, norm, lm_head
    trainable_params: list = field(default_factory=lambda: ["embed", "norm"])
    quantize: str = "none"  # none | 4bit (QLoRA, needs bitsandbytes)

    def validate(self) -> None:
        _choice("adapter.method", self.method, ("none", "lora"))
        _choice("adapter.quantize", self.quantize, ("none", "4bit"))
        _positive("adapter.r", self.r)
        _number_in("adapter.alpha", self.alpha, 0, None, low_open=True)
        _number_in("adapter.dropout", self.dropout, 0, 1, high_open=True)
        for name in self.trainable_params:
            _choice("adapter.trainable_params[]", name, ("embed", "norm", "lm_head"))
        if self.quantize != "none" and self.method != "lora":
            raise RecipeError("adapter.quantize = '4bit' trains adapters on frozen 4-bit weights: set adapter.method: lora")


@dataclass
class DataConfig:
    sources: list = field(default_factory=lambda: [{"type": "testbed", "split": "train"}])
    # A weighted data mix (data/*.yaml, named in a recipe as `mix: NAME`; loading puts its whole
    # definition here, and a flat mix's sources into `sources`). It replaces `sources`.
    mix: dict | None = None
    seq_len: int = 1024
    split_policy: str = "chunk"  # documents longer than seq_len: chunk | truncate | drop
    min_doc_tokens: int = 2  # shorter documents are dropped (and counted)
    max_train_tokens: int | None = None  # stop taking documents past this many tokens
    num_proc: int = 2
    seed: int = 0
    # Text files with more undecodable (non-UTF-8) bytes than this share are refused; below it the
    # bytes become U+FFFD and are counted. 1.0 accepts any file.
    max_undecodable_fraction: float = 0.001

    def validate(self) -> None:
        _choice("data.split_policy", self.split_policy, SPLIT_POLICIES)
        _positive("data.seq_len", self.seq_len, minimum=8)
        _positive("data.num_proc", self.num_proc)
        _positive("data.min_doc_tokens", self.min_doc_tokens)
        _seed("data.seed", self.seed)
        if self.max_train_tokens is not None:
            _positive("data.max_train_tokens", self.max_train_tokens)
        _number_in("data.max_undecodable_fraction", self.max_undecodable_fraction, 0, 1)
        if self.mix is not None:
            from ..data.mix.definition import parse_mix

            parse_mix(self.mix, self.seq_len)
            return
        if not self.sources:
            raise RecipeError("data.sources is empty: list at least one source, e.g. [{type: testbed}], or name a data.mix")
        for i, source in enumerate(self.sources):
            validate_source(source, f"data.sources[{i}]")

    def all_sources(self) -> tuple[list[dict], str]:
        """Every source this data section reads, and where the recipe lists them."""
        if self.mix is not None:
            return [entry["source"] for entry in self.mix["sources"]], f"data.mix ({self.mix.get('name')!r}) sources"
        return self.sources, "data.sources"


@dataclass
class TrainConfig:
    max_steps: int = 100
    learning_rate: float = 2e-5
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 0
    # warmup_stable_decay: the lr stays at its peak until the last `decay_steps`, then falls to 0
    # (a cosine); for training whose skills form late, after a plateau a decaying lr would cut short
    decay_steps: int = 0
    batch_size: int = 1  # sequences per device per micro-step
    grad_accum: int = 1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_beta2: float = 0.95
    gradient_checkpointing: bool = False
    # auto: bf16 where the device supports it, fp32 otherwise; bf16: bf16 weights and compute;
    # bf16-mixed: fp32 weights and optimizer, bf16 compute (autocast); on a CPU with native bf16
    # (avx512_bf16) it trains the testbed base in half fp32's time
    precision: str = "auto"
    seed: int = 0
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 10
    report_to: list = field(default_factory=lambda: ["none"])
    deepspeed: str | None = None  # path to a DeepSpeed JSON config (or use accelerate_configs/)
    torch_compile: bool = False
    # Cross-entropy from the hidden states this many scored tokens at a time, so the full logits
    # (sequence x vocabulary) never exist; null: transformers' own loss over the full logits.
    loss_chunk_tokens: int | None = None
    # how that loss is computed: longft's chunks (any device) or Liger's fused kernel (CUDA, Triton)
    loss_kernel: str = "chunked"
    # Sequence-parallel degree (DeepSpeed Ulysses): each sample's tokens are split over this many
    # ranks, which all-to-all into whole sequences for 1/degree of the heads around attention.
    sequence_parallel: int = 1
    # what the forward pass saves for the backward pass (with gradient_checkpointing: each layer's
    # input) is kept in host memory, ALST's activation-checkpoint offload
    offload_activations: bool = False
    # each decoder layer's MLP runs ceil(tokens / hidden) slices of the tokens at a time, recomputed
    # slice by slice in the backward pass (ALST's tiled MLP, DeepSpeed's TiledMLP)
    tiled_mlp: bool = False

    def validate(self) -> None:
        _positive("train.max_steps", self.max_steps)
        _positive("train.batch_size", self.batch_size)
        _positive("train.grad_accum", self.grad_accum)
        _positive("train.save_steps", self.save_steps)
        _positive("train.save_total_limit", self.save_total_limit)
        _positive("train.logging_steps", self.logging_steps)
        _positive("train.sequence_parallel", self.sequence_parallel)
        _seed("train.seed", self.seed)
        _number_in("train.weight_decay", self.weight_decay, 0, None)
        _number_in("train.max_grad_norm", self.max_grad_norm, 0, None)  # 0 turns clipping off
        _number_in("train.adam_beta2", self.adam_beta2, 0, 1, high_open=True)
        if not (0 < self.learning_rate < 1):
            raise RecipeError(f"train.learning_rate = {self.learning_rate}: must be in (0, 1)")
        if self.warmup_steps < 0:
            raise RecipeError(f"train.warmup_steps = {self.warmup_steps}: must be >= 0")
        _choice("train.precision", self.precision, PRECISIONS)
        if self.loss_chunk_tokens is not None:
            _positive("train.loss_chunk_tokens", self.loss_chunk_tokens)
        _choice("train.loss_kernel", self.loss_kernel, LOSS_KERNELS)
        if self.loss_kernel == "liger" and self.loss_chunk_tokens is None:
            raise RecipeError("train.loss_kernel = 'liger' computes the loss from the hidden states: "
                              "set train.loss_chunk_tokens too (Liger picks its own chunk size)")
        valid_schedulers = ("constant", "constant_with_warmup", "linear", "cosine", "warmup_stable_decay")
        _choice("train.lr_scheduler", self.lr_scheduler, valid_schedulers)
        if self.lr_scheduler == "warmup_stable_decay":
            if not (0 < self.decay_steps <= self.max_steps - self.warmup_steps):
                raise RecipeError(
                    f"train.decay_steps = {self.decay_steps}: warmup_stable_decay needs 0 < decay_steps <= "
                    f"max_steps - warmup_steps ({self.max_steps} - {self.warmup_steps})"
                )
        elif self.decay_steps:
            raise RecipeError(
                f"train.decay_steps = {self.decay_steps} is read only by lr_scheduler 'warmup_stable_decay', "
                f"not by {self.lr_scheduler!r}; drop it or switch the scheduler"
            )


# LongRoPE's candidate set for n̂, the first positions that keep the original frequencies.
START_TOKEN_CHOICES = (0, 1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 48, 64, 128, 256)


@dataclass
class SearchConfig:
    """LongRoPE evolutionary search of per-dimension RoPE rescale factors (kind: search stages).

    Searched for `length` tokens: longer than the original window gives long factors, equal to
    it gives short factors (what inputs within the original window use)."""

    length: int | None = None  # empty: data.seq_len
    population: int = 64
    parents: int = 32  # the best kept each generation
    mutations: int = 16
    crossovers: int = 16
    iterations: int = 40
    mutation_prob: float = 0.3
    crossover_prob: float = 0.15
    max_scale: float = 1.25  # factors stay in [1, max_scale * length / window]
    step: float = 0.01  # factor granularity
    start_tokens: list = field(default_factory=lambda: list(START_TOKEN_CHOICES))
    sources: list = field(default_factory=lambda: [{"type": "testbed", "split": "train"}])
    num_docs: int = 4  # fitness: perplexity on this many documents truncated to `length`
    batch_size: int = 4  # sequences per forward pass (rows of different candidates share a batch)
    seed: int = 0

    def validate(self) -> None:
        for name in ("population", "parents", "iterations", "num_docs", "batch_size"):
            _positive(f"search.{name}", getattr(self, name))
        _positive("search.mutations", self.mutations, minimum=0)
        _positive("search.crossovers", self.crossovers, minimum=0)
        if self.parents > self.population:
            raise RecipeError(f"search.parents = {self.parents}: must be <= search.population ({self.population})")
        if self.mutations + self.crossovers == 0:
            raise RecipeError("search.mutations + search.crossovers = 0: a generation must make at least one child")
        for name in ("mutation_prob", "crossover_prob"):
            if not 0 < getattr(self, name) <= 1:
                raise RecipeError(f"search.{name} = {getattr(self, name)}: must be in (0, 1]")
        if self.max_scale < 1:
            raise RecipeError(f"search.max_scale = {self.max_scale}: must be >= 1")
        if not 0 < self.step <= 0.5:
            raise RecipeError(f"search.step = {self.step}: must be in (0, 0.5]")
        if not self.start_tokens:
            raise RecipeError(f"search.start_tokens is empty; choose from {list(START_TOKEN_CHOICES)} ([0] for none)")
        for n in self.start_tokens:
            if not isinstance(n, int) or n < 0:
                raise RecipeError(f"search.start_tokens has {n!r}: n̂ values are integers >= 0, e.g. {list(START_TOKEN_CHOICES)}")
        if self.length is not None:
            _positive("search.length", self.length, minimum=8)
        _seed("search.seed", self.seed)
        for i, source in enumerate(self.sources):
            validate_source(source, f"search.sources[{i}]")


EVAL_SUITES = ("standard", "ruler")
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

    def validate(self) -> None:
        _choice("eval.passkey_template", self.passkey_template, PASSKEY_TEMPLATES)
        _positive("eval.target_tokens", self.target_tokens)
        _positive("eval.num_docs", self.num_docs)
        _positive("eval.passkey_trials", self.passkey_trials)
        _seed("eval.passkey_seed", self.passkey_seed)  # the parser has already refused non-integers
        if self.sliding_stride is not None:
            _positive("eval.sliding_stride", self.sliding_stride)
        if not self.passkey_depths:
            raise RecipeError("eval.passkey_depths is empty; give depths in [0, 1], e.g. [0.0, 0.5, 1.0]")
        for n in self.passkey_lengths:
            if not isinstance(n, int) or n < MIN_PASSKEY_LENGTH:
                raise RecipeError(
                    f"eval.passkey_lengths has {n!r}: each length is an integer >= {MIN_PASSKEY_LENGTH} "
                    "(room for the key and the question)"
                )
        for d in self.passkey_depths:
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= float(d) <= 1.0:
                raise RecipeError(f"eval.passkey_depths has {d!r}: depths are fractions in [0, 1]")
        for n in self.context_lengths:
            if not isinstance(n, int):
                raise RecipeError(f"eval.context_lengths has {n!r}: lengths are integers >= eval.target_tokens")
            if int(n) < self.target_tokens:
                raise RecipeError(
                    f"eval.context_lengths has {n}: every context must hold the {self.target_tokens} target tokens"
                )
        for i, source in enumerate(self.sources):
            validate_source(source, f"eval.sources[{i}]")
        for method in self.zero_shot_baselines:
            _choice("eval.zero_shot_baselines[]", method, ("linear", "dynamic", "yarn", "llama3", "logn", "hybrid", "sinks"))
        self._validate_ruler()

    def _validate_ruler(self) -> None:
        from ..eval.ruler import SCORING_MODES, TASKS
        from ..eval.ruler.templates import TEMPLATES

        if not self.suites:
            raise RecipeError("eval.suites is empty; list 'standard', 'ruler' or both")
        for suite in self.suites:
            _choice("eval.suites[]", suite, EVAL_SUITES)
        for task in self.ruler_tasks:
            _choice("eval.ruler_tasks[]", task, tuple(TASKS))
        _choice("eval.ruler_scoring", self.ruler_scoring, SCORING_MODES)
        _choice("eval.ruler_template", self.ruler_template, tuple(TEMPLATES))
        _positive("eval.ruler_trials", self.ruler_trials)
        _seed("eval.ruler_seed", self.ruler_seed)
        _positive("eval.ruler_distractors", self.ruler_distractors)
        _number_in("eval.ruler_threshold_ratio", self.ruler_threshold_ratio, 0.0, 1.0, low_open=True)
        for n in self.ruler_lengths:
            if not isinstance(n, int) or isinstance(n, bool) or n < MIN_RULER_LENGTH:
                raise RecipeError(
                    f"eval.ruler_lengths has {n!r}: each length is an integer >= {MIN_RULER_LENGTH} (room for the "
                    "task text, the needles and the answer)"
                )
        if not self.ruler_depths:
            raise RecipeError("eval.ruler_depths is empty; give depths in [0, 1], e.g. [0.0, 0.5, 1.0]")
        for d in self.ruler_depths:
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= float(d) <= 1.0:
                raise RecipeError(f"eval.ruler_depths has {d!r}: depths are fractions in [0, 1]")


@dataclass
class Recipe:
    name: str = "unnamed"
    description: str = ""
    kind: str = "train"  # a stage kind in stages.STAGE_KINDS: train (pack -> train -> export), search (LongRoPE)
    output_dir: str | None = None  # default: runs/<name>
    model: ModelConfig = field(default_factory=ModelConfig)
    position: PositionConfig = field(default_factory=PositionConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    # Progressive extension: each entry overrides sections for one stage, which starts from
    # the previous stage's output. Empty: one stage made of the recipe itself.
    stages: list = field(default_factory=list)
    # Set by --smoke: same code path, tiny stand-in model, a few steps.
    smoke: bool = False
    # The --section.field values given on the command line: --smoke keeps them over its own.
    overrides: dict = field(default_factory=dict)

    def validate(self) -> None:
        sections = (self.model, self.position, self.attention, self.adapter, self.data, self.train, self.eval, self.search)
        for section in sections:
            section.validate()
        check_name("name", self.name)
        for i, stage in enumerate(self.stages):
            if not isinstance(stage, dict) or "name" not in stage:
                raise RecipeError(f"stages[{i}] must be a mapping with a 'name' (got {stage!r})")
            check_name(f"stages[{i}].name", stage["name"])
        names = [s["name"] for s in self.stages]
        if len(set(names)) != len(names):
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise RecipeError(f"stage names must be unique; {repeated} appear more than once in {names}")
        from ..attention.registry import ATTENTION_METHODS

        ATTENTION_METHODS[self.attention.method].validate(
            self.attention, self.data.seq_len, self.position.original_max_position_embeddings
        )
        check_length_fits_method(self.position, self.position_length())
        if self.data.seq_len % self.train.sequence_parallel:
            raise RecipeError(
                f"data.seq_len = {self.data.seq_len} does not split over train.sequence_parallel = "
                f"{self.train.sequence_parallel} ranks; use a multiple of {self.train.sequence_parallel}"
            )
        from ..positions.schemes import POSITION_SCHEMES

        POSITION_SCHEMES[self.position.scheme].validate(
            self.position.scheme_params, self.data.seq_len, self.position.covered_length(self.data.seq_len)
        )
        window = self.position.original_max_position_embeddings
        if self.eval.sliding_stride is not None and window and self.eval.sliding_stride > window:
            raise RecipeError(
                f"eval.sliding_stride = {self.eval.sliding_stride}: must be <= the original window {window}, "
                "the smallest window scored (a larger stride skips tokens)"
            )
        if self.kind == "search":
            check_search_fits(self)

    def position_length(self) -> int:
        """How far positions run in one training row: data.seq_len, or less where the attention method
        lays a pack out in shorter rows (FoT's windows). The position method scales to this."""
        from ..attention.registry import position_length

        return position_length(self.attention, self.data.seq_len)

    def length(self) -> int:
        """The sequence length this stage works at: its training length, or its search length."""
        return (self.search.length or self.data.seq_len) if self.kind == "search" else self.data.seq_len

    def target_length(self) -> int:
        """The longest context this stage is meant for: its length, or the range its position
        scheme covers when that is longer (PoSE trains at a short window for a long target)."""
        from ..positions.schemes import POSITION_SCHEMES

        if self.kind != "train" or not POSITION_SCHEMES[self.position.scheme].uses_length:
            return self.length()
        return max(self.length(), self.position.covered_length(self.data.seq_len))

    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir or f"runs/{self.name}{'-smoke' if self.smoke else ''}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of every value that changes what training produces (not where it is written).
        Values left at their defaults are not hashed, so adding a field keeps earlier fingerprints."""
        payload = _non_default(self.to_dict(), Recipe().to_dict())
        for key in ("output_dir", "description", "overrides"):
            payload.pop(key, None)
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _non_default(values: dict, defaults: dict) -> dict:
    out = {}
    for key, value in values.items():
        default = defaults.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(default, dict) and default:
            nested = _non_default(value, default)
            if nested:
                out[key] = nested
        elif value != default:
            out[key] = value
    return out


_MISSING = object()


def check_length_fits_method(position: PositionConfig, seq_len: int) -> None:
    """Interpolation methods are defined up to factor x original window; longer is a mistake."""
    from ..positions.methods import POSITION_METHODS

    orig = position.original_max_position_embeddings
    if orig is None or not POSITION_METHODS[position.method].bounded_by_factor:
        return
    limit = int(orig * position.factor)
    if seq_len > limit:
        raise RecipeError(
            f"data.seq_len = {seq_len} is longer than {position.method} with factor {position.factor} "
            f"on a {orig}-token window can take ({limit}); raise position.factor to at least "
            f"{seq_len / orig:g} or lower data.seq_len"
        )


def check_search_fits(recipe: "Recipe") -> None:
    """A search stage searches factors for the model as loaded: it takes no position method and
    trains nothing, and its length is the original window (short factors) or longer."""
    if recipe.position.method != "none":
        raise RecipeError(
            f"position.method = {recipe.position.method!r} in a search stage: a LongRoPE search sets the rope "
            "parameters itself; use position.method: none there"
        )
    orig = recipe.position.original_max_position_embeddings
    if orig is not None and recipe.length() < orig:
        raise RecipeError(
            f"search.length = {recipe.length()} is shorter than the original window {orig}: search at the window "
            "itself for short factors, or longer for long factors"
        )


def validate_source(source: Any, where: str) -> None:
    from ..data.sources import SOURCES

    if not isinstance(source, dict):
        raise RecipeError(f"{where} = {source!r}: a source is a mapping such as {{type: jsonl, path: docs.jsonl}}")
    kind = source.get("type")
    _choice(f"{where}.type", kind, tuple(SOURCES))
    fields = SOURCES[kind].FIELDS
    unknown = set(source) - fields
    if unknown:
        raise RecipeError(f"{where} has unknown keys {sorted(unknown)}; a {kind} source takes {sorted(fields)}")
    if "path" in fields and not source.get("path"):
        raise RecipeError(f"{where}: a {kind} source needs a 'path'")
    splits = getattr(SOURCES[kind], "SPLITS", None)
    if splits and source.get("split", splits[0]) not in splits:
        raise RecipeError(f"{where}.split = {source.get('split')!r}: valid splits are {', '.join(map(repr, splits))}")
    if hasattr(SOURCES[kind], "validate"):
        SOURCES[kind].validate(source, where)


def check_name(path: str, value: Any) -> None:
    """A recipe or stage name is a plain folder name: it never points elsewhere or at longft's own files."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise RecipeError(
            f"{path} = {value!r} is not a valid name: it becomes a folder name, so use letters, digits, '.', '_' "
            "and '-' (up to 100, starting with a letter or digit), never a path"
        )
    if value in RUN_FOLDER_NAMES:
        raise RecipeError(f"{path} = {value!r} is a name longft uses inside a run folder; choose a name other than "
                          f"{', '.join(RUN_FOLDER_NAMES)}")


def _choice(path: str, value: Any, valid: tuple) -> None:
    if value not in valid:
        close = difflib.get_close_matches(str(value), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RecipeError(f"{path} = {value!r} is not valid{hint}; valid values: {', '.join(valid)}")


def _positive(path: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise RecipeError(f"{path} = {value}: must be >= {minimum}")


def _seed(path: str, value: int) -> None:
    """Seeds go to numpy, which takes 0 .. 2**32 - 1."""
    if not 0 <= value < 2**32:
        raise RecipeError(f"{path} = {value}: must be >= 0 and < 2**32 (the range numpy seeds take)")


def _number_in(path: str, value: float, low: float, high: float | None, low_open=False, high_open=False) -> None:
    """value in the interval from low to high (None: unbounded), each end closed unless said open."""
    below = value <= low if low_open else value < low
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open or high is None else "]"
        raise RecipeError(f"{path} = {value}: must be in {left}{low}, {'inf' if high is None else high}{right}")

