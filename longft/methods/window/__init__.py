"""Window and hybrid window-full attention (Su 2023): every layer attends to the last `window`
tokens (window), or the last `full_layers` attend to everything with log-n and without RoPE
(hybrid). Both hold at inference too (the exported config records them). The attention function
is attention.py.

`attention.method: window | hybrid` -> WINDOW and HYBRID below, listed in methods/registry.py.
"""
from __future__ import annotations

from ...attention.method import AttentionMethod, nothing
from . import attention

WINDOW = AttentionMethod(
    validate=attention.validate_window, preflight=nothing,
    register=lambda a, w: attention.register(attention.settings_window(a, w)),
    settings=attention.settings_window, restore=attention.register,
    engine_note=lambda saved: (
        f"window attention: plain engines run full attention, not the {saved['window']}-token window the model "
        "was trained with, so each token sees more than it learnt to and the memory bound is lost"
    ),
)
HYBRID = AttentionMethod(
    validate=attention.validate_hybrid, preflight=nothing,
    register=lambda a, w: attention.register(attention.settings_hybrid(a, w)),
    settings=attention.settings_hybrid, restore=attention.register,
    engine_note=lambda saved: (
        f"hybrid attention: plain engines run every layer as full attention with RoPE, not the last "
        f"{saved.get('full_layers')} layers' full attention without RoPE and with log-n, nor the window of the others: "
        "a different model past the window"
    ),
)
