"""RULER-style synthetic long-context tasks (Hsieh et al. 2024), offline: needle retrieval, multi-hop
variable tracking and aggregation, over held-out local text, scored per task and length, with an
effective length. One task = one entry of TASKS (a generator with RULER's settings).
"""
from __future__ import annotations

from .aggregation import CommonWords, FrequentWords
from .niah import Niah
from .variable_tracking import VariableTracking

TASKS = {
    task.name: task
    for task in (
        Niah("niah_single_1", kind="numbers", noise=True),
        Niah("niah_single_2", kind="words"),
        Niah("niah_single_3", kind="uuids"),
        Niah("niah_multikey_1", kind="numbers", keys=4),
        Niah("niah_multivalue", kind="numbers", values=4),
        Niah("niah_multiquery", kind="numbers", queries=4),
        VariableTracking("vt", chains=1, hops=4),
        CommonWords("cwe", num_cw=10, freq_cw=30, freq_ucw=3),
        FrequentWords("fwe", alpha=2.0),
    )
}
SCORING_MODES = ("generation", "loglik")
