"""`accelerate launch -m longft train` with two CPU processes over gloo: one DDP run, one set of files."""
import json
import os
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
