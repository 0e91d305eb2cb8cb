"""Users' files and runs: export targets, half-written checkpoints, foreign resumes, the run lock,
bad data, --smoke with overrides, damaged caches, writable outputs."""
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from longft.cli import main
from longft.errors import RecipeError
from longft.validation import load_recipe, stage_recipes
from longft.recipe.parsing import parse_overrides
from longft.pipeline import planned_stages, preflight, run_recipe
from longft.smoke import smoke_recipe


# 1. export never deletes what is at OUT


def test_export_replaces_an_earlier_export_only_with_overwrite(checkpoint, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert main(["export", str(checkpoint), str(dest)]) == 0
    stamp = (dest / "model.safetensors").stat().st_mtime_ns
    assert main(["export", str(checkpoint), str(dest)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (dest / "model.safetensors").stat().st_mtime_ns == stamp
    (dest / "stale.txt").write_text("from the older export")
    assert main(["export", str(checkpoint), str(dest), "--overwrite"]) == 0
    assert not (dest / "stale.txt").exists() and (dest / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]  # no temporary, backup or lock left beside it


def test_export_into_the_folder_holding_the_checkpoint_is_refused(checkpoint, tmp_path):
    stage = tmp_path / "stage"
    (stage / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (stage / "checkpoints" / "checkpoint-2" / "optimizer.pt").write_bytes(b"state")
    final = stage / "final"
    import shutil

    shutil.copytree(checkpoint, final)
    assert main(["export", str(final), str(stage), "--overwrite"]) == 2
    assert (stage / "checkpoints" / "checkpoint-2" / "optimizer.pt").read_bytes() == b"state"


KILL_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
from longft import outputs

out = Path(sys.argv[1])
backup = outputs._new_box(out, "old")  # what replace_folder does, up to its first rename
out.rename(backup / out.name)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_kill_between_the_two_renames_keeps_the_older_copy(tmp_path):
    from longft.outputs import recover_folder

    out = tmp_path / "final"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"weights")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, str(out)], env=env)
    assert not out.exists()
    recover_folder(out)  # what the next export or report does first
    assert (out / "model.safetensors").read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


def test_recovery_leaves_folders_of_the_users_own_beside_the_output(tmp_path):
    """`final.old` / `final.tmp` / a hidden look-alike without longft's marker are the user's."""
    from longft.outputs import recover_folder

    out = tmp_path / "final"
    for name in ("final.old", "final.tmp", ".final.longft-old-x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "thesis.tex").write_text("mine")
    recover_folder(out)
    assert not out.exists()
    for name in ("final.old", "final.tmp", ".final.longft-old-x"):
        assert (tmp_path / name / "thesis.tex").read_text() == "mine"


# 2. resume takes the newest complete checkpoint; out of disk says so


def _complete_checkpoint(folder: Path, step_tensor=1.0):
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"w": torch.full((4,), step_tensor)}, str(folder / "model.safetensors"))
    torch.save({"state": 1}, folder / "optimizer.pt")
    torch.save({"lr": 1}, folder / "scheduler.pt")
    torch.save({"rng": 1}, folder / "rng_state.pth")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": int(folder.name.split("-")[1])}))


@pytest.mark.parametrize("damage", ["cut-weights", "cut-optimizer", "no-trainer-state", "no-rng"])
def test_resume_skips_a_half_written_checkpoint(damage, tmp_path, capsys):
    from longft.train.checkpoints import resumable_checkpoint

    _complete_checkpoint(tmp_path / "checkpoint-2")
    newest = tmp_path / "checkpoint-4"
    _complete_checkpoint(newest)
    if damage == "cut-weights":
        data = (newest / "model.safetensors").read_bytes()
        (newest / "model.safetensors").write_bytes(data[:-5])
    elif damage == "cut-optimizer":
        data = (newest / "optimizer.pt").read_bytes()
        (newest / "optimizer.pt").write_bytes(data[: len(data) // 2])
    elif damage == "no-trainer-state":
        (newest / "trainer_state.json").unlink()
    else:
        (newest / "rng_state.pth").unlink()
    assert resumable_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert "skipping incomplete checkpoint" in capsys.readouterr().out and not newest.exists()


def test_complete_checkpoint_is_taken(tmp_path):
    from longft.train.checkpoints import resumable_checkpoint

    _complete_checkpoint(tmp_path / "checkpoint-2")
    _complete_checkpoint(tmp_path / "checkpoint-10")
    assert resumable_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_out_of_disk_is_said_in_one_line(tmp_path, monkeypatch, capsys):
    from longft.stages import train

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "main" / "checkpoints"))

    monkeypatch.setattr(train, "run", full)
    code = main(["train", "tiny-pi-4x", "--smoke", "--eval.enabled", "false", "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1
    assert "out of disk space" in err[0] and "checkpoints" in err[0] and "resumes" in err[0]
    assert not (tmp_path / "out" / ".longft.lock").exists()


# 3. resume checks what it resumes


def _cut_after_three_steps(recipe, monkeypatch):
    from longft.train import callbacks

    original = callbacks.ThroughputCallback.on_step_end

    def die_after_step_3(self, args, state, control, **kwargs):
        original(self, args, state, control, **kwargs)
        if state.global_step == 3:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(callbacks.ThroughputCallback, "on_step_end", die_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe)
    monkeypatch.setattr(callbacks.ThroughputCallback, "on_step_end", original)


def _smoke(name, out, overrides=()):
    return load_recipe(
        name,
        parse_overrides(["--train.max_steps", "4", "--train.save_steps", "2", "--eval.enabled", "false",
                         "--output_dir", str(out), *overrides]),
        smoke=True,
    )


def test_an_interrupted_stage_of_another_recipe_is_not_resumed(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _cut_after_three_steps(_smoke("tiny-pi-4x", out), monkeypatch)
    checkpoint = out / "main" / "checkpoints" / "checkpoint-2"
    stamp = (checkpoint / "model.safetensors").read_bytes()
    changed = _smoke("tiny-pi-4x", out, ["--train.learning_rate", "1e-4"])
    with pytest.raises(RecipeError, match=r"interrupted stage of a different recipe.*train\.learning_rate: 0\.0003 there, 0\.0001 now"):
        run_recipe(changed)
    with pytest.raises(RecipeError, match=r"position\.method: 'linear' there, 'yarn' now"):
        run_recipe(_smoke("tiny-yarn-4x", out))
    assert (checkpoint / "model.safetensors").read_bytes() == stamp
    run_recipe(_smoke("tiny-pi-4x", out))  # the recipe it was started with resumes it
    assert (out / "main" / "final" / "model.safetensors").is_file()


def test_a_finished_stage_names_what_differs(tmp_path):
    out = tmp_path / "out"
    run_recipe(_smoke("tiny-pi-4x", out, ["--train.max_steps", "1"]))
    with pytest.raises(RecipeError, match=r"finished stage of a different recipe.*train\.max_steps: 1 there, 2 now"):
        run_recipe(_smoke("tiny-pi-4x", out, ["--train.max_steps", "2"]))


# 4. one run per output folder


def test_a_live_run_holds_the_folder(tmp_path):
    from longft.run_lock import RunLock, start_time

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = RunLock(tmp_path)
        lock.me.update(pid=holder.pid, launch="another-launch", started_ticks=start_time(holder.pid))
        lock.acquire()
        with pytest.raises(RecipeError, match=rf"in use by pid {holder.pid}.*--output_dir"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    second = RunLock(tmp_path)
    second.acquire()  # the holder is gone: its lock is stale and taken over
    assert json.loads((tmp_path / ".longft.lock").read_text())["pid"] == os.getpid()
    second.release()
    assert not (tmp_path / ".longft.lock").exists()


def test_the_ranks_of_one_launch_share_the_lock(tmp_path, monkeypatch):
    from longft.run_lock import RunLock

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    rank0, rank1 = RunLock(tmp_path), RunLock(tmp_path, releases=False)
    rank1.me["pid"] = 1  # another process of the same launch
    rank0.acquire()
    rank1.acquire()
    rank1.release()
    assert (tmp_path / ".longft.lock").exists()  # only the main process removes it
    rank0.release()
    assert not (tmp_path / ".longft.lock").exists()


def test_another_rank_checking_the_folder_mid_write_finds_it_a_longft_run(tmp_path, monkeypatch):
    """Every rank checks the output folder before it starts, while the main process may hold its
    lock's private copy or a write probe there for an instant: a rank listing the folder in that
    instant must not call it foreign (it would end that rank, and leave the others waiting)."""
    from longft.outputs import check_run_folder, check_writable
    from longft.run_lock import RunLock

    out = tmp_path / "out"
    listed = []
    real_link, real_unlink = os.link, os.unlink

    def other_rank_checks():
        listed.append(sorted(entry.name for entry in out.iterdir()))
        check_run_folder(out)

    def link(src, dst, *args, **kwargs):  # the lock's private copy is written, not yet linked
        other_rank_checks()
        return real_link(src, dst, *args, **kwargs)

    def unlink(path, *args, **kwargs):  # a probe exists, not yet removed
        if Path(path).parent == out and not listed:  # the first probe only, not the check's own
            other_rank_checks()
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(os, "unlink", unlink)
    out.mkdir()
    check_writable(out, "output_dir")
    RunLock(out).acquire()
    assert len(listed) == 2 and all(len(names) == 1 for names in listed), listed
    (out / ".longft.lock").unlink()
    (out / "thesis.tex").write_text("mine")
    with pytest.raises(RecipeError, match="holds no longft run"):
        check_run_folder(out)


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"launch": "x", "pid": holder.pid, "host": os.uname().nodename, "since": "now"}
        (out / ".longft.lock").write_text(json.dumps(lock))
        assert main(["train", "tiny-pi-4x", "--smoke", "--output_dir", str(out)]) == 2
        assert f"in use by pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert not (out / "main").exists()


# 5. bad data is found before the model loads


def test_undecodable_bytes_below_the_threshold_are_counted(tmp_path, capsys):
    from longft.data.sources import check_sources

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"plain text " * 500 + b"\xff\xfe")
    check_sources([{"type": "text_dir", "path": str(folder)}], max_undecodable_fraction=0.01)
    assert "2 undecodable byte(s) in 1 file(s)" in capsys.readouterr().out
    with pytest.raises(RecipeError, match="a.txt.*2 undecodable bytes.*max_undecodable_fraction"):
        check_sources([{"type": "text_dir", "path": str(folder)}], max_undecodable_fraction=0.0)


def test_parquet_with_null_or_non_string_text_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from longft.data.sources import check_sources

    pq.write_table(pa.table({"text": ["a", None, "c"]}), tmp_path / "nulls.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    with pytest.raises(RecipeError, match="null in 1 row.*row 1"):
        check_sources([{"type": "parquet", "path": str(tmp_path / "nulls.parquet")}])
    with pytest.raises(RecipeError, match="holds int64, expected strings"):
        check_sources([{"type": "parquet", "path": str(tmp_path / "ints.parquet")}])


# 6. --smoke keeps what the command line says


def test_smoke_keeps_command_line_overrides_and_says_what_it_replaces(tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": "def f(x):\n    return x\n" * 40}) + "\n" for _ in range(4)))
    overrides = parse_overrides([
        "--train.max_steps", "7", "--train.save_steps", "3", "--train.report_to", "tensorboard",
        "--data.sources", json.dumps([{"type": "jsonl", "path": str(docs)}]), "--eval.num_docs", "3",
    ])
    stage = planned_stages(load_recipe("tiny-yarn-4x", overrides, smoke=True))[0][1]
    assert stage.train.max_steps == 7 and stage.train.save_steps == 3
    assert stage.train.report_to == ["tensorboard"] and stage.eval.num_docs == 3
    assert stage.data.sources == [{"type": "jsonl", "path": str(docs)}]
    assert stage.model.name_or_path == "standin"  # the stand-in itself is what smoke is for
    out = capsys.readouterr().out
    assert "[smoke] replaced for the stand-in:" in out and "train.grad_accum" in out
    assert "[smoke] kept from the command line: train.max_steps, train.save_steps" in out


def test_command_line_wins_over_a_stage_value():
    stages = stage_recipes(load_recipe("yarn-128k", parse_overrides(["--train.learning_rate", "1e-5"])))
    assert all(stage.train.learning_rate == 1e-5 for _, stage in stages)


# 7. fields have their ranges checked at load (the catalogue in test_bad_inputs.py has one case each)


# 8. a damaged pack cache is rebuilt


def test_a_truncated_pack_cache_is_rebuilt(tokenizer, tmp_path, capsys):
    from longft.recipe.schema import DataConfig
    from longft.data.prepare import prepare_packed

    data = DataConfig(sources=[{"type": "testbed", "split": "heldout", "max_files": 6}], seq_len=128, num_proc=1)
    first, _, path = prepare_packed(data, tokenizer, cache_dir=tmp_path)
    expected = [list(x) for x in first["input_ids"]]
    arrow = next(path.glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    capsys.readouterr()
    again, _, _ = prepare_packed(data, tokenizer, cache_dir=tmp_path)
    said = capsys.readouterr().out
    assert "is damaged" in said and "rebuilding" in said
    assert [list(x) for x in again["input_ids"]] == expected


# 10. every output location is checked in preflight


def test_an_unwritable_output_is_found_in_preflight(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through permission bits; the file-in-the-way case is in the catalogue")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        recipe = _smoke("tiny-pi-4x", out / "run")
        with pytest.raises(RecipeError, match="not writable"):
            preflight(recipe, planned_stages(recipe))
    finally:
        out.chmod(0o700)
