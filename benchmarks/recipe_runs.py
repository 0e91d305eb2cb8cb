"""Training the recipes a comparison benchmark sets side by side: each into its own folder under the
benchmark's output, without its own evaluation (the benchmark scores them all one way), resumable
(finished stages skip)."""
from __future__ import annotations

import time
from pathlib import Path


def train_recipes(named: list[tuple[str, str]], out: Path, label: str) -> dict[str, tuple[str, float]]:
    """{row label: (final checkpoint, training wall-clock seconds)} for (row label, recipe) pairs."""
    from longft.pipeline import run_recipe
    from longft.recipe.loading import load_recipe

    finals = {}
    for i, (row, name) in enumerate(named, 1):
        print(f"[{label}] training {i}/{len(named)}: {name}", flush=True)
        t0 = time.time()
        result = run_recipe(load_recipe(name, {"eval": {"enabled": False}, "output_dir": str(out / name)}))
        finals[row] = (result["output"], time.time() - t0)
    return finals
