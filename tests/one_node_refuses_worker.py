"""Run by tests/test_distributed_cpu.py under `accelerate launch` with two CPU processes: `longft
train` where rank 1 alone refuses in its checks before work (as a node missing a data file would).
Every rank must stop with an error instead of waiting for rank 1 at a collective."""
import os
import sys

from longft import pipeline
from longft.cli import main
from longft.errors import RecipeError

checks = pipeline.preflight


def preflight_missing_a_file_on_rank_1(recipe, stages):
    checks(recipe, stages)
    if os.environ["RANK"] == "1":
        raise RecipeError("data.sources[0]: file '/data/only-on-node-0.jsonl' does not exist")


pipeline.preflight = preflight_missing_a_file_on_rank_1
sys.exit(main(sys.argv[1:]))
