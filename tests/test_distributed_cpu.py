"""`accelerate launch -m longft train` with two CPU processes over gloo: one DDP run, one set of
files; a finished run closes its process group."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.smoke


def test_accelerate_launch_two_cpu_processes(tmp_path):
    accelerate = Path(sys.executable).parent / "accelerate"
    cmd = [
        str(accelerate), "launch", "--config_file", str(ROOT / "accelerate_configs" / "cpu_gloo.yaml"),
        "--main_process_port", "29533", "-m", "longft", "train", "tiny-longlora", "--smoke",
        "--output_dir", str(tmp_path / "run"),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "main" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    assert (tmp_path / "run" / "main" / "final" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "report" / "report.json").is_file()
    assert done.stdout.count("Held-out evaluation") == 1  # only the main process evaluates


HARNESS = ROOT / "tests" / "kill_harness.py"
RESUME_ARGS = ["train", "tiny-pi-4x", "--smoke", "--train.max_steps", "4", "--train.save_steps", "2",
               "--eval.enabled", "false"]


def launch_two(run: Path, port: int, kill_at: str | None = None) -> subprocess.CompletedProcess:
    accelerate = Path(sys.executable).parent / "accelerate"
    target = [str(HARNESS), kill_at] if kill_at else ["-m", "longft"]
    cmd = [str(accelerate), "launch", "--config_file", str(ROOT / "accelerate_configs" / "cpu_gloo.yaml"),
           "--main_process_port", str(port), *target, *RESUME_ARGS, "--output_dir", str(run)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_two_process_run_killed_mid_stage_resumes_to_the_same_weights(tmp_path):
    """Both ranks SIGKILLed after optimizer step 3 of 4 (checkpoint-2 on disk); the relaunch resumes
    from it and ends bit-identical to an uninterrupted two-process run."""
    import torch
    from safetensors.torch import load_file

    whole = launch_two(tmp_path / "whole", 29541)
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = launch_two(tmp_path / "run", 29542, kill_at="step:3")
    assert killed.returncode != 0
    assert not (tmp_path / "run" / "main" / "final").exists()
    assert (tmp_path / "run" / "main" / "checkpoints" / "checkpoint-2").is_dir()
    assert not (tmp_path / "run" / "main" / "checkpoints" / "checkpoint-4").exists()
    resumed = launch_two(tmp_path / "run", 29543)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout and "checkpoint-2" in resumed.stdout
    a = load_file(str(tmp_path / "whole" / "main" / "final" / "model.safetensors"))
    b = load_file(str(tmp_path / "run" / "main" / "final" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    s_whole = json.loads((tmp_path / "whole" / "main" / "train_summary.json").read_text())
    s_run = json.loads((tmp_path / "run" / "main" / "train_summary.json").read_text())
    assert s_whole["world_size"] == s_run["world_size"] == 2 and s_run["steps"] == 4
    assert s_run["train_loss"] == s_whole["train_loss"]


@pytest.mark.parametrize("command", ["train", "search"])
def test_a_finished_run_tears_its_process_group_down(command, monkeypatch):
    """gloo's threads left to interpreter shutdown can abort a process whose run succeeded."""
    import torch.distributed as dist

    from longft import cli, pipeline

    ran = []
    monkeypatch.setattr(pipeline, "run_recipe", lambda recipe: ran.append(recipe.name))
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        assert cli.main([command, "tiny-longrope", "--smoke"]) == 0
        assert ran and not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_rank_that_refuses_before_work_stops_every_rank(tmp_path):
    """A node that lacks a file refuses in its checks; the other ranks must stop too, with its
    message, and not wait for it at their first collective (a hang until the timeout)."""
    accelerate = Path(sys.executable).parent / "accelerate"
    cmd = [str(accelerate), "launch", "--config_file", str(ROOT / "accelerate_configs" / "cpu_gloo.yaml"),
           "--main_process_port", "29536", str(ROOT / "tests" / "one_node_refuses_worker.py"),
           "train", "tiny-pi-4x", "--smoke", "--output_dir", str(tmp_path / "run")]
    job = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    try:
        out, _ = job.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        out, _ = job.communicate()
        pytest.fail("rank 0 went on and waited for the rank that refused:\n" + out[-3000:])
    assert job.returncode != 0
    assert out.count("/data/only-on-node-0.jsonl") == 2, out[-3000:]  # rank 1's own error, and rank 0's
    assert "rank 1 of 2 stopped before any work" in out
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())  # nothing written
