"""One measurement per fresh process: a process's peak resident memory only grows, so each peak is
taken in a process of its own. A benchmark re-runs its own script with the measurement's arguments;
that run prints one JSON line last."""
from __future__ import annotations

import json
import subprocess
import sys


def measure_in_fresh_process(script: str, args: list[str], label: str, env=None) -> dict | None:
    """The measurement's JSON, or None (with a line saying why) when the process failed."""
    run = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        tail = (run.stderr.strip().splitlines() or ["killed"])[-1]
        print(f"[{label}]   failed (exit {run.returncode}): {tail}", flush=True)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])
