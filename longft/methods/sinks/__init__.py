"""Attention sinks / StreamingLLM (Xiao et al. 2024): the first `sinks` tokens and the last
`window`, positioned as in a cache that keeps only those. Evaluated as a zero-shot baseline
(`eval.zero_shot_baselines: [sinks]`) through attention.py, which computes in one forward what the
paper's bounded cache (stream.py) computes token by token; usable as a recipe's attention too
(the exported config records it).

`attention.method: sinks` -> ATTENTION below, listed in methods/registry.py.
"""
from __future__ import annotations

from ...attention.method import AttentionMethod, nothing
from . import attention

ATTENTION = AttentionMethod(
    validate=attention.validate, preflight=nothing,
    register=lambda a, w: attention.register(attention.settings(a, w)),
    settings=attention.settings, restore=attention.register,
    engine_note=lambda saved: (
        f"attention sinks: vLLM, llama.cpp, SGLang and TGI run full attention, not {saved['sinks']} sink tokens "
        f"plus the last {saved['window']}, so past {saved['sinks'] + saved['window']} tokens they see what this "
        "model never did"
    ),
)
