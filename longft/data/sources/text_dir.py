"""A folder of text files (`glob`, default **/*.txt, relative to the folder), one document per file,
or with `join_chars: N` consecutive files (in path order) joined into documents of at least N
characters: long held-out documents made of a folder of short files. The files left over at the end
join the last document.

Folders reached through symlinks are followed (and the check says which); a loop of links is
refused. The files the pre-run check read are the files training reads: one that is gone by then
fails the run, naming it, instead of being silently left out.
"""
from __future__ import annotations

import glob
import os
import sys
from pathlib import Path, PurePath

import datasets

from ...errors import RecipeError
from ...testbed.corpus import read_text
from ..validate import check_text_files
from ._common import path_of, require_whole_number

FIELDS = {"type", "path", "glob", "join_chars"}
DEFAULT_GLOB = "**/*.txt"
# pathlib's glob matched hidden files too; glob.glob does from Python 3.11 when asked
_HIDDEN = {"include_hidden": True} if sys.version_info >= (3, 11) else {}

# (folder, glob) -> the files the check read, for `load` to hold itself to
_checked: dict[tuple[str, str], list[Path]] = {}


def validate(source: dict, where: str) -> None:
    pattern = source.get("glob", DEFAULT_GLOB)
    if not isinstance(pattern, str) or not pattern:
        raise RecipeError(f"{where}.glob = {pattern!r}: a glob is a pattern such as '**/*.txt'")
    if PurePath(pattern).is_absolute() or ".." in PurePath(pattern).parts:
        raise RecipeError(f"{where}.glob = {pattern!r}: the glob is relative to the source's path and stays inside it "
                          "(e.g. '**/*.txt'); put the folder in 'path'")
    require_whole_number(source, "join_chars", where, default=1, minimum=1)


def _key(source: dict) -> tuple[str, str]:
    return str(path_of(source).resolve()), source.get("glob", DEFAULT_GLOB)


def linked_folders(root: Path, label: str) -> list[Path]:
    """The folders under `root` that are symlinks; a link that leads back into a folder already
    walked (a loop, or the same folder twice) is refused, since following it would never end."""
    seen, links = set(), []
    for folder, subfolders, _ in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            raise RecipeError(f"{label}: {folder!r} leads back to {real!r} through a symlink, which the source "
                              "already reads (a loop); remove the link or narrow the glob")
        seen.add(real)
        links += [Path(folder) / name for name in subfolders if os.path.islink(os.path.join(folder, name))]
    return links


def files(source: dict) -> list[Path]:
    root = path_of(source)
    found = glob.glob(source.get("glob", DEFAULT_GLOB), root_dir=root, recursive=True, **_HIDDEN)
    return sorted(p for p in (root / name for name in found) if p.is_file())


def check(source: dict, check, max_undecodable_fraction: float) -> bool:
    path = path_of(source)
    if not path.is_dir():
        raise RecipeError(f"{check.label}: folder {str(path)!r} does not exist; set it to a folder of text files")
    links = linked_folders(path, check.label)
    found = files(source)
    if not found:
        raise RecipeError(f"{check.label}: no files match {source.get('glob', DEFAULT_GLOB)!r} in {str(path)!r}")
    check_text_files(found, max_undecodable_fraction, check)
    if links:
        check.notes.append(f"followed {len(links)} symlinked folder(s): {', '.join(str(p) for p in links[:3])}"
                           f"{' ...' if len(links) > 3 else ''}")
    _checked[_key(source)] = found
    return True


def load(source: dict) -> datasets.Dataset:
    found = files(source)
    gone = sorted(set(_checked.get(_key(source), ())) - set(found))
    if gone:
        raise RecipeError(f"text_dir source {str(path_of(source))!r}: {len(gone)} file(s) the pre-run check read are "
                          f"gone now, the first {str(gone[0])!r}; restore them, or rerun to train without them")
    try:
        texts = [read_text(p) for p in found]
    except FileNotFoundError as exc:
        raise RecipeError(f"text_dir source {str(path_of(source))!r}: {exc.filename!r} was deleted while it was read; "
                          "restore it, or rerun to train without it") from None
    if "join_chars" in source:
        texts = joined(texts, source["join_chars"])
    return datasets.Dataset.from_dict({"text": texts})


def joined(texts: list[str], min_chars: int) -> list[str]:
    """Consecutive texts joined (a blank line between) into documents of at least `min_chars`."""
    out, current = [], []
    for text in texts:
        current.append(text)
        if sum(map(len, current)) >= min_chars:
            out.append("\n\n".join(current))
            current = []
    if current:
        if out:
            out[-1] = "\n\n".join([out[-1], *current])
        else:
            out.append("\n\n".join(current))
    return out
