"""slurm/multinode.sbatch under a faked SLURM on one machine: `srun` starts one task per "node"
with its own SLURM_NODEID (tests/fake_slurm), and each task's accelerate launch must take its
machine rank from its own task (expanded per task, not once at submission) for the two nodes to
meet; the run trains with world size 2 and writes one set of files."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.smoke


@pytest.mark.parametrize("port,extra", [
    (29571, []),
    # one sequence split over the two nodes: DeepSpeed Ulysses across the machines
    (29572, ["--train.sequence_parallel", "2", "--train.deepspeed", "deepspeed_zero1.json"]),
])
def test_multinode_sbatch_runs_two_nodes_on_one_machine(tmp_path, port, extra):
    env = {
        **os.environ,
        "PATH": f"{ROOT / 'tests' / 'fake_slurm'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SLURM_NNODES": "2",
        "SLURM_JOB_NODELIST": "node[1-2]",
        "SLURM_GPUS_ON_NODE": "1",  # one process per node
        "SLURM_NODEID": "0",  # what a submission-time expansion would give every task
        "ACCELERATE_CONFIG": "accelerate_configs/cpu_gloo.yaml",
        "MASTER_PORT": str(port),
    }
    cmd = ["bash", "slurm/multinode.sbatch", "tiny-longlora", "--smoke", "--output_dir", str(tmp_path / "run"), *extra]
    job = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    try:
        out, _ = job.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        out, _ = job.communicate()
        pytest.fail("the two nodes never met (each task's machine rank must come from its own SLURM_NODEID):\n"
                    + out[-3000:])
    assert job.returncode == 0, out[-3000:]
    summary = json.loads((tmp_path / "run" / "main" / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    assert summary["sequence_parallel"] == (2 if extra else 1)
    assert (tmp_path / "run" / "main" / "final" / "model.safetensors").is_file()
    assert out.count("Held-out evaluation") == 1  # one main process across the nodes


def test_master_address_survives_a_long_host_list(tmp_path):
    """The first host is taken without closing the pipe on scontrol: with `| head -n 1` under
    pipefail, a host list longer than a pipe buffer ends the job with SIGPIPE (exit 141)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho node-first\nfor ((i = 0; i < 100000; i++)); do echo node$i; done\n")
    (bin_dir / "srun").write_text('#!/bin/bash\necho "master=$MASTER_ADDR"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_NNODES": "2",
           "SLURM_JOB_NODELIST": "node[1-100000]"}
    done = subprocess.run(["bash", "slurm/multinode.sbatch", "tiny-longlora"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "master=node-first" in done.stdout
