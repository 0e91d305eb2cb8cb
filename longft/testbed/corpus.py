"""The testbed corpus: the Python standard library's own source files.

Every machine with Python has them, they are real text with long-range structure
(names defined far above are used far below), and a fixed hash split keeps a held-out
set that training never sees.
"""
from __future__ import annotations

import hashlib
import sysconfig
from functools import lru_cache
from pathlib import Path

HELDOUT_EVERY = 16  # about 1 file in 16 is held out, chosen by a hash of its path
MAX_FILE_BYTES = 400_000  # skip the few huge generated files


@lru_cache(maxsize=1)
def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def split_of(relpath: str) -> str:
    digest = int(hashlib.sha1(relpath.encode()).hexdigest(), 16)
    return "heldout" if digest % HELDOUT_EVERY == 0 else "train"


@lru_cache(maxsize=1)
def stdlib_files() -> tuple[tuple[str, Path], ...]:
    root = stdlib_root()
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "site-packages" in rel or "dist-packages" in rel:
            continue
        if path.stat().st_size > MAX_FILE_BYTES or path.stat().st_size == 0:
            continue
        out.append((rel, path))
    return tuple(out)


TOPLEVEL = "toplevel"  # the package name given to the single-file modules at the library's root


def package_of(relpath: str) -> str:
    return relpath.split("/", 1)[0] if "/" in relpath else TOPLEVEL


@lru_cache(maxsize=1)
def package_names() -> tuple[str, ...]:
    return tuple(sorted({package_of(rel) for rel, _ in stdlib_files()}))


def corpus_files(split: str, max_files: int | None = None, packages: list[str] | None = None,
                 exclude_packages: list[str] | None = None) -> list[Path]:
    keep = set(packages) if packages else None
    leave = set(exclude_packages or ())

    def wanted(rel: str) -> bool:
        package = package_of(rel)
        return (keep is None or package in keep) and package not in leave

    files = [p for rel, p in stdlib_files() if split_of(rel) == split and wanted(rel)]
    return files[:max_files] if max_files else files


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def corpus_fingerprint() -> str:
    """Changes when the standard library on this machine changes (another Python version)."""
    h = hashlib.sha256()
    for rel, path in stdlib_files():
        h.update(rel.encode())
        h.update(str(path.stat().st_size).encode())
    return h.hexdigest()[:16]
