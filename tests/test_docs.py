"""The docs site builds with `mkdocs build --strict` (a broken link or a page missing from the nav
fails it), the README stays one screen's depth, and every figure it quotes is on a docs page."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"
pytestmark = pytest.mark.skipif(not MKDOCS.is_file(), reason="mkdocs is installed by requirements-cpu.txt")


def build(root: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(MKDOCS), "build", "--strict", "-d", str(out)], cwd=root,
                          capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})


def test_the_site_builds_strictly(tmp_path):
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "methods" / "fot" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "methods" / "fot.md"
    page.write_text(page.read_text() + "\nSee [the xPos page](xpos.md).\n")
    result = build(copy, tmp_path / "site")
    assert result.returncode != 0
    assert "xpos.md" in result.stdout + result.stderr


def test_readme_is_one_screen_deep_with_both_commands_first():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    first_screen = "\n".join(lines[:25])
    assert "make finetune" in first_screen and "make test" in first_screen


def test_every_figure_the_readme_quotes_is_on_a_docs_page():
    readme = (ROOT / "README.md").read_text()
    docs = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    figures = set(re.findall(r"(?<![\w.])\d+\.\d+%?(?![\w.])|(?<![\w.])\d+%", readme))
    missing = sorted(f for f in figures if f not in docs)
    assert not missing, f"README figures on no docs page: {missing}"
