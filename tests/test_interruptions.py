"""Invariants 5 and 7: a run killed with SIGKILL at any point completes on rerun, with weights
bit-identical to an uninterrupted run, and its summary covers the whole stage."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from longft.cli import main

HARNESS = Path(__file__).with_name("kill_harness.py")
ARGS = ["train", "tiny-pi-4x", "--smoke", "--train.max_steps", "4", "--train.save_steps", "2", "--eval.enabled", "false"]


def final_weights(run: Path) -> dict:
    return load_file(str(run / "main" / "final" / "model.safetensors"))


def summary(run: Path) -> dict:
    return json.loads((run / "main" / "train_summary.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("whole") / "run"
    assert main([*ARGS, "--output_dir", str(run)]) == 0
    return run


# (kill point, what the rerun must say about it)
KILL_POINTS = [
    ("step:3", "resuming from"),
    ("checkpoint:4", "skipping incomplete checkpoint"),
    ("export", "resuming from"),
]


@pytest.mark.parametrize("point,rerun_says", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_sigkill_then_rerun_matches_the_uninterrupted_run(point, rerun_says, uninterrupted, tmp_path, capsys):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(HARNESS.parent.parent)}
    killed = subprocess.run([sys.executable, str(HARNESS), point, *ARGS, "--output_dir", str(run)], env=env,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (run / "main" / "final" / "model.safetensors").exists()
    assert (run / ".longft.lock").exists()  # left behind by the killed process

    assert main([*ARGS, "--output_dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "taking over a stale lock" in out and rerun_says in out
    a, b = final_weights(uninterrupted), final_weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (run / ".longft.lock").exists()
    # the summary covers all four steps, not only the ones after the resume
    whole, resumed = summary(uninterrupted), summary(run)
    assert resumed["steps"] == whole["steps"] == 4
    assert resumed["train_loss"] == pytest.approx(whole["train_loss"], rel=1e-9)
    assert resumed["train_seconds"] > 0 and resumed["tokens_per_s"] > 0
