"""Stage kinds by name: what `kind:` may say in a recipe or stage, and how each runs.

A kind is a module with `describe(stage)`, `sources(stage)` (the data it reads, checked before
any work), `preflight(name, stage, earlier stages)` and `run(stage, stage_dir, fingerprint,
initial_dir) -> summary`. `train` is here; a method's own kind lives in its folder (LongRoPE's
search in methods/longrope/stage.py). Append new {"name": module} pairs to STAGE_KINDS.
"""
from ..methods.longrope import stage as longrope_search
from . import train

STAGE_KINDS = {"train": train, "search": longrope_search}
