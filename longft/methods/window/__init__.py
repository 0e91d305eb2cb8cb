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
)
HYBRID = AttentionMethod(
    validate=attention.validate_hybrid, preflight=nothing,
    register=lambda a, w: attention.register(attention.settings_hybrid(a, w)),
    settings=attention.settings_hybrid, restore=attention.register,
)
