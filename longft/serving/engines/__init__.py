"""Engines serve-check compares against: name -> Engine (engines/base.py). Append new pairs."""
from __future__ import annotations

from . import lm_eval, vllm
from .base import Engine

ENGINES: dict[str, Engine] = {
    "vllm": vllm.ENGINE,
    "lm-eval": lm_eval.ENGINE,
}
