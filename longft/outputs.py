"""Where longft may write, and how: a user's files are never deleted or replaced without a flag.

Every folder longft writes (a run, an export, a report) is checked before any work starts:
- a path that is a file, or that lies under a file, is refused;
- a non-empty folder that longft did not write is refused (nothing in it is touched);
- an existing checkpoint / report is replaced only with an explicit `overwrite` flag;
- the folder (or the nearest folder that exists above it) must take a new file.
Writes go to a temporary name beside the destination and are renamed into place. The temporary
and backup folders are ones longft made itself: unique hidden names (`.OUT.longft-tmp-XXXX`,
`.OUT.longft-old-XXXX`) holding a marker file, and recovery after a kill touches only folders that
carry that marker, so a user's `OUT.old/` or `OUT.tmp/` is never taken for one of longft's.
"""
from __future__ import annotations

import errno
import glob
import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import RecipeError
from .run_lock import LOCK_NAME, holder_alive, process_record

# Files that mark a folder as one longft (or transformers) wrote, by what the folder is.
CHECKPOINT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin")
REPORT_FILES = ("report.json",)
RUN_FILES = ("recipe.json", LOCK_NAME)
PROBE_PREFIX = ".longft-write-probe-"
# Names longft holds for an instant before linking or removing them (the lock's private copy, a
# write probe): another rank of the same launch may list the folder in that instant, and they say
# nothing about whose folder it is.
TRANSIENT_PREFIXES = (f"{LOCK_NAME}.", PROBE_PREFIX)


def atomic_write_text(path: Path, text: str) -> None:
    """Write beside `path`, then rename over it: a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    return path


def check_writable(path: Path, what: str) -> None:
    """`path` (a folder, made later if missing) can take a new file; probed with a real file
    because permission bits say nothing on read-only mounts or to root."""
    path = Path(path)
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise RecipeError(f"{what} {str(path)!r} cannot be created: {str(existing)!r} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=PROBE_PREFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RecipeError(f"{what} {str(path)!r} is not writable ({exc.strerror} in {str(existing)!r}); "
                          "choose a folder you can write to") from None


def is_inside(inner: Path, outer: Path) -> bool:
    inner, outer = Path(os.path.abspath(inner)).resolve(), Path(os.path.abspath(outer)).resolve()
    return inner == outer or outer in inner.parents


def _check_not_a_file(path: Path, what: str) -> None:
    if path.exists() and not path.is_dir():
        raise RecipeError(f"{what} {str(path)!r} is a file; give a folder path (nothing was changed)")


def _foreign_files(path: Path, marker_files: tuple[str, ...]) -> bool:
    """A non-empty folder holding none of the files that mark what longft writes there."""
    if not path.is_dir():
        return False
    held = [entry for entry in path.iterdir() if not entry.name.startswith(TRANSIENT_PREFIXES)]
    return bool(held) and not any((path / name).exists() for name in marker_files)


def check_run_folder(path: Path, stage_markers: tuple[str, ...] = (), what: str = "output_dir") -> None:
    """A run folder is new, empty, or one longft ran in before (then it is continued): it holds a
    run file, or a file matching one of `stage_markers` (glob patterns of the stages' markers)."""
    path = Path(path)
    _check_not_a_file(path, what)
    stage_marked = any(any(path.glob(pattern)) for pattern in stage_markers)
    if _foreign_files(path, RUN_FILES) and not stage_marked:
        raise RecipeError(
            f"{what} {str(path)!r} is a non-empty folder that holds no longft run; "
            "choose a new or empty folder (nothing in it was changed)"
        )
    check_writable(path, what)


def check_replace_target(path: Path, what: str, marker_files: tuple[str, ...], overwrite: bool = False,
                         source: Path | None = None, flag: str = "--overwrite") -> None:
    """A folder that longft fills whole (an export, a report): new or empty; an earlier one of the
    same kind is replaced only with `flag`; anything else in the way is refused untouched."""
    path = Path(path)
    _check_not_a_file(path, what)
    if source is not None and (is_inside(source, path) or is_inside(path, source)):
        raise RecipeError(
            f"{what} {str(path)!r} overlaps the source {str(source)!r}; write to a folder outside it (nothing was changed)"
        )
    if _foreign_files(path, marker_files):
        raise RecipeError(
            f"{what} {str(path)!r} is a non-empty folder that holds no {'/'.join(marker_files)}; "
            "choose a new or empty folder (nothing in it was changed)"
        )
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise RecipeError(f"{what} {str(path)!r} already holds one; pass {flag} to replace it (nothing was changed)")
    check_writable(path, what)


STAGING_MARKER = ".longft-staging.json"  # inside every temporary / backup folder longft makes


def _box_prefix(out: Path, role: str) -> str:
    return f".{out.name}.longft-{role}-"


def _new_box(out: Path, role: str) -> Path:
    """A new, uniquely named hidden folder beside `out`, marked as longft's, that will hold one copy of it."""
    box = Path(tempfile.mkdtemp(dir=out.parent, prefix=_box_prefix(out, role)))
    (box / STAGING_MARKER).write_text(json.dumps({"for": out.name, "role": role, **process_record()}))
    return box


def staging_folder(out: Path) -> Path:
    """An empty folder to fill with what will become `out`; `replace_folder` puts it in place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = _new_box(out, "tmp") / out.name
    folder.mkdir()
    return folder


def replace_folder(tmp: Path, out: Path) -> None:
    """Put the finished folder `tmp` (from `staging_folder`) at `out`. An older `out` is moved into a
    backup folder first and removed only once the new one is in place, so a kill at any point leaves
    one complete copy (`recover_folder` brings a backed-up one back)."""
    tmp, out = Path(tmp), Path(out)
    backup = None
    if out.exists():
        backup = _new_box(out, "old")
        out.rename(backup / out.name)
    tmp.rename(out)
    for box in (backup, tmp.parent):
        if box is not None and _box_record(box, out) is not None:
            shutil.rmtree(box)


def _box_record(box: Path, out: Path) -> dict | None:
    """The marker of a temporary / backup folder longft made for `out`; None for anything else."""
    try:
        record = json.loads((box / STAGING_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("for") == out.name else None


def recover_folder(out: Path) -> None:
    """Before writing `out` again: after a kill between the two renames of `replace_folder`, bring the
    older copy back; then clear the temporary and backup folders left by processes that are gone.
    Only folders carrying longft's marker are touched; those of a live writer are left alone."""
    out = Path(out)
    if not out.parent.is_dir():
        return
    for box in sorted(out.parent.glob(f".{glob.escape(out.name)}.longft-*")):
        record = _box_record(box, out) if box.is_dir() and not box.is_symlink() else None
        if record is None or holder_alive(record) is not False:
            continue
        kept = box / out.name
        if record.get("role") == "old" and kept.is_dir() and not out.exists():
            kept.rename(out)
        shutil.rmtree(box)


def disk_full_message(exc: BaseException) -> str | None:
    """A one-line message when `exc` (or what caused it) is the disk running full; else None.
    Libraries wrap the OSError (safetensors, torch.save), so causes and texts are looked at too."""
    seen = 0
    while exc is not None and seen < 8:
        if getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc):
            name = getattr(exc, "filename", None)
            where = f" while writing {name!r}" if name else ""
            return (f"out of disk space{where}; free space or set output_dir / LONGFT_HOME to a larger disk, "
                    "then run the same command again: it resumes from the last complete checkpoint")
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


# Below this much free space a failed write is taken for a full disk: torch.save reports one as
# "unexpected pos" / "file write failed", with no errno to read.
NEARLY_FULL_BYTES = 16 << 20


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(_nearest_existing(path)).free


def raise_if_disk_full(exc: BaseException, folder: Path) -> None:
    """Re-raise a failed write into `folder` as the out-of-disk error it is, when the disk is full."""
    if disk_full_message(exc) is None and isinstance(exc, (OSError, RuntimeError)):
        try:
            full = free_bytes(folder) < NEARLY_FULL_BYTES
        except OSError:
            full = False
        if full:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder)) from exc
