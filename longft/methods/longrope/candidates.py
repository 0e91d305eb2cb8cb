"""The LongRoPE search space and its operators.

A candidate is a rescale factor λ_i >= 1 for each rotary dimension pair i (inv_freq_i =
1 / (λ_i · base^(2i/d)), λ non-decreasing from the fastest to the slowest dimension) and n̂, the
number of first positions that keep the original frequencies. Factors are held as integer
multiples of a step, so candidates compare and hash exactly and a cache can never be fooled by
float noise.
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass

import torch

from ...positions.rope import architecture_part


@dataclass(frozen=True)
class Candidate:
    start_tokens: int  # n̂
    steps: tuple[int, ...]  # λ_i = steps[i] * SearchSpace.step

    def key(self) -> str:
        return f"{self.start_tokens}:" + ",".join(map(str, self.steps))

    @classmethod
    def from_key(cls, key: str) -> "Candidate":
        start, steps = key.split(":")
        return cls(int(start), tuple(int(s) for s in steps.split(",")))


@dataclass(frozen=True)
class SearchSpace:
    dims: int  # rotary dimension pairs (head_dim / 2)
    upper: float  # largest factor
    step: float = 0.01
    start_choices: tuple[int, ...] = (0,)

    @property
    def low(self) -> int:
        return round(1.0 / self.step)

    @property
    def high(self) -> int:
        return max(self.low, math.floor(self.upper / self.step + 1e-9))

    def factors(self, c: Candidate) -> list[float]:
        return [round(k * self.step, 10) for k in c.steps]

    def make(self, factors, start_tokens: int = 0) -> Candidate:
        """The nearest valid candidate: clipped to the bounds, rounded to the step, made monotone."""
        steps, floor = [], self.low
        for f in factors:
            k = min(self.high, max(floor, round(float(f) / self.step)))
            steps.append(k)
            floor = k
        start = min(self.start_choices, key=lambda s: (abs(s - start_tokens), s))
        return Candidate(start, tuple(steps))

    def valid(self, c: Candidate) -> bool:
        s = c.steps
        return (
            len(s) == self.dims
            and c.start_tokens in self.start_choices
            and all(self.low <= k <= self.high for k in s)
            and all(a <= b for a, b in zip(s, s[1:]))
        )

    def mutate(self, c: Candidate, rng: random.Random, prob: float) -> Candidate:
        """Each factor, with probability `prob`, is redrawn between its neighbours (so the order
        holds); n̂, with the same probability, moves to a neighbouring choice."""
        steps = list(c.steps)
        for i in range(self.dims):
            if rng.random() < prob:
                left = steps[i - 1] if i > 0 else self.low
                right = steps[i + 1] if i + 1 < self.dims else self.high
                steps[i] = rng.randint(left, right)
        start = c.start_tokens
        choices = sorted(self.start_choices)
        if len(choices) > 1 and rng.random() < prob:
            at = choices.index(start) + rng.choice((-1, 1))
            start = choices[min(len(choices) - 1, max(0, at))]
        return Candidate(start, tuple(steps))

    def crossover(self, a: Candidate, b: Candidate, rng: random.Random, prob: float) -> Candidate | None:
        """Genes of `a`, each taken from `b` with probability `prob`; None when the order breaks."""
        steps = tuple(kb if rng.random() < prob else ka for ka, kb in zip(a.steps, b.steps))
        start = b.start_tokens if rng.random() < prob else a.start_tokens
        child = Candidate(start, steps)
        return child if self.valid(child) else None


# ---------------------------------------------------------------- seeds from transformers' methods


def _inv_freq(model_config, rope_parameters: dict, max_positions: int) -> torch.Tensor:
    """Inverse frequencies of a rope type, computed by transformers' own init function."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    config = copy.deepcopy(model_config)
    config.rope_parameters = rope_parameters
    config.max_position_embeddings = max_positions
    inv_freq, _ = ROPE_INIT_FUNCTIONS[rope_parameters["rope_type"]](config, "cpu")
    return inv_freq.double()


def base_inv_freq(model_config) -> torch.Tensor:
    """The unscaled frequencies: one per rotated pair (rotary dim / 2, which partial rotary makes less
    than head_dim / 2)."""
    theta = model_config.rope_parameters["rope_theta"]
    return _inv_freq(model_config, {"rope_type": "linear", "factor": 1.0, "rope_theta": theta,
                                    **architecture_part(model_config.rope_parameters)}, 1)


def method_factors(model_config, window: int, scale: float) -> dict[str, list[float]]:
    """λ of position interpolation, NTK-aware base scaling and YaRN at `scale`: the seeds of the
    search (their frequencies divided into the unscaled ones)."""
    theta = model_config.rope_parameters["rope_theta"]
    base = base_inv_freq(model_config)
    dim = 2 * len(base)
    ntk_theta = theta * scale ** (dim / (dim - 2))
    kept = architecture_part(model_config.rope_parameters)
    methods = {
        "pi": {"rope_type": "linear", "factor": scale, "rope_theta": theta, **kept},
        "ntk": {"rope_type": "linear", "factor": 1.0, "rope_theta": ntk_theta, **kept},
        "yarn": {"rope_type": "yarn", "factor": scale, "rope_theta": theta, "original_max_position_embeddings": window,
                 **kept},
    }
    return {
        name: (base / _inv_freq(model_config, params, int(window * scale))).tolist() for name, params in methods.items()
    }
