"""log-n attention scaling (Chiang & Cholak 2022; Su 2021): the logits of the query at position n
are multiplied by max(1, log n / log L), in training and at inference (the exported config records
it). The attention function is attention.py.

`attention.method: logn` -> ATTENTION below, listed in methods/registry.py.
"""
from __future__ import annotations

from ...attention.method import AttentionMethod, nothing
from . import attention

ATTENTION = AttentionMethod(
    validate=attention.validate, preflight=nothing,
    register=lambda a, w: attention.register(attention.settings(a, w)),
    settings=attention.settings, restore=attention.register,
    engine_note=lambda saved: (
        f"log-n attention: vLLM, llama.cpp, SGLang and TGI run ordinary attention, without the max(1, log n / "
        f"log {saved['base']}) logit scale it was trained with, so past {saved['base']} tokens they "
        "run a different model; longft's loaders (longft eval) switch it back on"
    ),
)
