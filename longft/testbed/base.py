"""The testbed base: a tiny Llama pretrained by longft itself at a short window.

It is built by running the `testbed-base` recipe through the same pipeline as every
other recipe, once, into a cache folder keyed by that recipe, the packer and the corpus;
a change to any of them builds a new one.
"""
from __future__ import annotations

from pathlib import Path

from ..data.mix.definition import normalize_layer
from ..data.packing import PACKER_VERSION
from ..paths import cache_home
from ..precision import resolve_precision
from ..recipe.loading import read_recipe
from .corpus import corpus_fingerprint


def testbed_base_dir() -> Path:
    """Keyed by the precision it trains in here too: `auto-mixed` trains in bf16-mixed on a machine
    with native bf16 and in fp32 elsewhere, and the two give different bases."""
    recipe = read_recipe("testbed-base", normalize=normalize_layer)
    recipe.train.precision = resolve_precision(recipe.train.precision)  # the fingerprint hashes the fields
    return cache_home() / "testbed" / f"base-{recipe.fingerprint()}-p{PACKER_VERSION}-{corpus_fingerprint()}"


def ensure_testbed_base(run_recipe) -> Path:
    """`run_recipe`: the pipeline's runner (passed in, so this module does not import the pipeline)."""
    out = testbed_base_dir()
    final = out / "main" / "final"
    if (final / "longft_stage.json").is_file():
        return final
    from ..distributed import process_state

    if process_state().num_processes > 1:
        from ..errors import RecipeError

        raise RecipeError(
            "the testbed base is not built yet and this is a multi-process launch; build it once in a single "
            "process first (`longft train testbed-base` or `make finetune`), then launch again"
        )
    print(f"[testbed] building the tiny base model once (cached in {out})", flush=True)
    recipe = read_recipe("testbed-base", overrides={"output_dir": str(out)}, normalize=normalize_layer)
    run_recipe(recipe)
    return final
