"""Which training checkpoint a run can resume from: the newest one that was written whole.

A run killed (or out of disk) while `checkpoint-N` was being written leaves a folder with
some files missing or cut short. Each file is checked cheaply, without loading it: JSON parses,
a safetensors file is as long as its header says, a torch.save zip has its central directory
(written last, so a cut file lacks it).
"""
from __future__ import annotations

import json
import shutil
import struct
import zipfile
from pathlib import Path

from ..outputs import CHECKPOINT_FILES

TORCH_STATE_FILES = ("optimizer.pt", "scheduler.pt")
TRAINER_STATE = "trainer_state.json"


def _safetensors_whole(path: Path) -> bool:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return False
        (n,) = struct.unpack("<Q", head)
        if 8 + n > size:
            return False
        header = json.loads(f.read(n))
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    return 8 + n + max(ends, default=0) == size


def _torch_zip_whole(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return bool(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _json_whole(path: Path) -> bool:
    try:
        json.loads(path.read_text())
        return True
    except (ValueError, OSError):
        return False


def checkpoint_problem(folder: Path) -> str | None:
    """None when the checkpoint is complete; otherwise what is missing or cut short."""
    if not _json_whole(folder / TRAINER_STATE):
        return f"{TRAINER_STATE} missing or unreadable"
    deepspeed = [p for p in folder.glob("global_step*") if p.is_dir()]  # DeepSpeed's own layout
    weights = [folder / name for name in CHECKPOINT_FILES if (folder / name).is_file()]
    weights += sorted(folder.glob("model-*.safetensors")) + deepspeed
    if not weights:
        return "no model weights"
    for path in weights:
        if path.suffix == ".safetensors" and not _safetensors_whole(path):
            return f"{path.name} is cut short"
        if path.suffix == ".json" and not _json_whole(path):
            return f"{path.name} unreadable"
    for name in TORCH_STATE_FILES:
        path = folder / name
        if deepspeed and name == "optimizer.pt":
            continue  # DeepSpeed keeps optimizer state in its global_step folder
        if not path.is_file():
            return f"{name} missing"
        if not _torch_zip_whole(path):
            return f"{name} is cut short"
    if not any(folder.glob("rng_state*.pth")):
        return "rng_state missing"
    return None


def checkpoint_step(folder: Path) -> int:
    return int(folder.name.split("-")[-1])


def resumable_checkpoint(checkpoint_dir: Path, log=print) -> str | None:
    """The newest complete `checkpoint-N`. Newer incomplete ones are removed (they are longft's
    own half-written files and would otherwise be taken for the newest by checkpoint rotation)."""
    found = sorted(
        (p for p in Path(checkpoint_dir).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
        key=checkpoint_step,
        reverse=True,
    )
    for folder in found:
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        log(f"[train] skipping incomplete checkpoint {folder} ({problem}); removing it", flush=True)
        shutil.rmtree(folder)
    return None
