"""A non-editable install (a wheel) holds every package and finds its shipped recipes and configs."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_in_pyproject():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "longft").rglob("__init__.py")}
    assert on_disk <= listed, f"add to pyproject's packages: {sorted(on_disk - listed)}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                   check=True)
    return next(out.glob("longft-*.whl"))


def test_wheel_ships_recipes_and_accelerate_configs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    recipes = {Path(n).name for n in names if n.startswith("longft/_recipes/")}
    assert {f.name for f in (ROOT / "recipes").glob("*.yaml")} <= recipes
    configs = {Path(n).name for n in names if n.startswith("longft/_accelerate_configs/")}
    assert {f.name for f in (ROOT / "accelerate_configs").glob("*.yaml")} <= configs


def test_installed_wheel_finds_its_recipes_away_from_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True)
    code = ("import longft.validation as l, longft.recipe.shipped as s; "
            "print(s.RECIPES_DIR); print(l.load_recipe('tiny-yarn-4x').position.method)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(target)) and out[1] == "yarn"
