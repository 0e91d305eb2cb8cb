"""One run at a time in an output folder: a lock file naming the process that holds it.

The ranks of one distributed launch share the lock (they carry the same launch id); a
second launch is refused with the holder's pid, host and start time. A lock left by a
killed process on this host (its pid gone, or reused by a process that started later) is
stale and is taken over.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .errors import RecipeError

LOCK_NAME = ".longft.lock"


def launch_id() -> str:
    """The same for every rank of one launch, different for two launches."""
    if "MASTER_PORT" in os.environ:
        parts = (os.environ.get("MASTER_ADDR", ""), os.environ["MASTER_PORT"], os.environ.get("TORCHELASTIC_RUN_ID", ""))
        return "launch:" + ":".join(parts)
    return f"process:{socket.gethostname()}:{os.getpid()}:{start_time(os.getpid())}"


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def holder_alive(holder: dict) -> bool | None:
    """True / False on this host; None when the holder runs on another host (cannot tell)."""
    if holder.get("host") != socket.gethostname():
        return None
    pid = int(holder.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = holder.get("started_ticks")
    return not started or start_time(pid) == started


def process_record() -> dict:
    """Who this process is, in the form `holder_alive` reads back."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started_ticks": start_time(os.getpid())}


class RunLock:
    """`RunLock(folder)` guards a run folder from inside it; `RunLock.beside(out, what)` guards a folder
    that is replaced whole (an export, a report) from a file next to it, since the folder itself moves."""

    def __init__(self, folder: Path, releases: bool = True, name: str = LOCK_NAME, what: str = "output_dir",
                 advice: str = "set --output_dir to another folder"):
        self.path = Path(folder) / name
        self.what, self.advice = what, advice
        self.me = {
            "launch": launch_id(),
            **process_record(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        self.releases = releases  # in a distributed launch only the main process removes the lock

    @classmethod
    def beside(cls, out: Path, what: str, advice: str) -> "RunLock":
        out = Path(os.path.abspath(out))
        return cls(out.parent, name=f".{out.name}{LOCK_NAME}", what=what, advice=advice)

    def _create(self) -> bool:
        """Write the holder's record to a private file, then hard-link it into place: the link
        fails if a lock exists, and a lock that exists is always complete."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.me))
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {"corrupt": True}

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create():
                return
            holder = self._read()
            if not holder:
                continue  # released between the two calls
            if holder.get("launch") == self.me["launch"]:
                return  # another rank of this launch made it
            alive = self._fresh() if holder.get("corrupt") else holder_alive(holder)
            if alive is False:
                print(f"[lock] {self.path}: taking over a stale lock from pid {holder.get('pid')} "
                      f"(no longer running)", flush=True)
                self.path.unlink(missing_ok=True)
                continue
            where = "" if alive else " on another host; if that run is dead, delete the lock file"
            raise RecipeError(
                f"{self.what} {str(self.target)!r} is in use by pid {holder.get('pid')} on {holder.get('host')} "
                f"since {holder.get('since')}{where} ({self.path}); wait for it or {self.advice}"
            )
        raise RecipeError(f"could not take the lock {self.path}: it keeps changing hands")

    @property
    def target(self) -> Path:
        """The folder the lock guards."""
        if self.path.name == LOCK_NAME:
            return self.path.parent
        return self.path.with_name(self.path.name[1:-len(LOCK_NAME)])

    def _fresh(self) -> bool:
        """A lock that does not parse (longft links its locks into place whole, so not one of its own):
        a recent one is left alone, an older one is stale."""
        try:
            return time.time() - self.path.stat().st_mtime < 5
        except OSError:
            return False

    def release(self) -> None:
        if self.releases and self._read().get("launch") == self.me["launch"]:
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False
