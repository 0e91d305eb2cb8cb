"""Users' files around longft's outputs, and the faults a run meets after it started: folders beside
an output, concurrent evaluations, a loss gone NaN, a corrected rerun, a full disk, data that changes
under a run, and inputs that are valid though unusual."""
import errno
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from longft.cli import main
from longft.errors import RecipeError
from longft.validation import load_recipe
from longft.recipe.parsing import parse_overrides

from test_bad_inputs import tree_digest

EVAL_FAST = ["--eval.num_docs", "1", "--eval.passkey_trials", "1", "--eval.passkey_depths", "[0.5]",
             "--eval.context_lengths", "[64]", "--target", "128"]
SMOKE_TRAIN = ["train", "tiny-pi-4x", "--smoke", "--eval.enabled", "false"]


def user_folders_around(out: Path, rng: random.Random) -> Path:
    """Random folders of the user's beside OUT and in its parent, under names a backup or temporary
    folder might have; returns the folder holding them all (OUT's grandparent)."""
    top = out.parent.parent
    suffixes = [".old", ".tmp", ".bak", "~", ".longft-old", ".orig", ".1"]
    names = {f"{out.name}{s}" for s in rng.sample(suffixes, 4)}
    names |= {f".{out.name}.longft-old-{rng.randrange(10**6)}", f".{out.name}.longft-tmp-{rng.randrange(10**6)}"}
    for name in names:
        folder = out.parent / name
        folder.mkdir(parents=True)
        (folder / "thesis.tex").write_text(f"the user's {name}")
        if "longft" in name:  # a look-alike of longft's marker, made for another folder
            (folder / ".longft-staging.json").write_text(json.dumps({"for": "elsewhere", "role": "old", "pid": 1}))
    (top / "notes.txt").write_text("beside the parent")
    (out.parent / f"{out.name}.old.txt").write_text("a file, not a folder")
    return top


@pytest.mark.parametrize("seed", range(3))
def test_export_and_eval_leave_every_user_folder_around_out_as_it_was(seed, checkpoint, tmp_path):
    rng = random.Random(seed)
    for command in ("export", "eval"):
        out = tmp_path / command / "parent" / rng.choice(["out", "final", "report", "r.v2"])
        top = user_folders_around(out, rng)
        before = tree_digest(top)
        args = [str(checkpoint), str(out)] if command == "export" else [str(checkpoint), "--out", str(out), *EVAL_FAST]
        assert main([command, *args]) == 0
        assert main([command, *args, "--overwrite"]) == 0  # a replace moves the older copy aside and back out
        after = {k: v for k, v in tree_digest(top).items() if not Path(k).parts[1:2] == (out.name,)}
        assert after == {k: v for k, v in before.items()}, command
        assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.longft-")) == sorted(
            p.name for p in out.parent.iterdir() if (p / "thesis.tex").is_file() and p.name.startswith(f".{out.name}."))


def test_training_leaves_folders_beside_and_above_output_dir_as_they_were(tmp_path):
    out = tmp_path / "runs" / "exp"
    top = user_folders_around(out, random.Random(7))
    for name in ("report.old", "main.tmp", ".report.longft-old-1"):  # beside the folders inside a run
        (out / name).mkdir(parents=True)
        (out / name / "thesis.tex").write_text("mine")
    (out / "recipe.json").write_text("{}")  # the folder is a longft run, so it is continued
    before = {k: v for k, v in tree_digest(top).items() if k != "runs/exp/recipe.json"}
    assert main([*SMOKE_TRAIN[:-2], "--output_dir", str(out)]) == 0
    after = tree_digest(top)
    assert {k: after.get(k) for k in before} == before


def test_a_second_eval_into_the_same_out_is_refused_while_the_first_runs(checkpoint, tmp_path, capsys):
    from longft.run_lock import RunLock, start_time

    out = tmp_path / "report"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = RunLock.beside(out, "report folder", "choose another --out")
        lock.me.update(pid=holder.pid, launch="another-launch", started_ticks=start_time(holder.pid))
        lock.acquire()
        assert main(["eval", str(checkpoint), "--out", str(out), *EVAL_FAST]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert main(["export", str(checkpoint), str(tmp_path / "dest")]) == 0  # another folder: not held
    finally:
        holder.kill()
        holder.wait()
    assert len(err) == 1 and f"in use by pid {holder.pid}" in err[0] and "--out" in err[0]
    assert not out.exists()
    assert main(["eval", str(checkpoint), "--out", str(out), *EVAL_FAST]) == 0  # the holder is gone: taken over
    assert (out / "report.json").is_file() and (out / "summary.txt").is_file()
    assert not list(tmp_path.glob(".report*"))


def test_a_loss_that_turns_nan_stops_the_run_naming_the_step(tmp_path, monkeypatch, capsys):
    import torch

    from longft.train import callbacks

    original = callbacks.ThroughputCallback.on_step_end

    def poison_after_step_2(self, args, state, control, **kwargs):
        original(self, args, state, control, **kwargs)
        if state.global_step == 2:
            with torch.no_grad():
                for p in kwargs["model"].parameters():
                    p.fill_(float("nan"))

    monkeypatch.setattr(callbacks.ThroughputCallback, "on_step_end", poison_after_step_2)
    out = tmp_path / "out"
    code = main([*SMOKE_TRAIN, "--train.max_steps", "4", "--output_dir", str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("longft")]  # not progress bars
    assert code == 2 and len(err) == 1, err
    assert "training loss became nan at step 3" in err[0] and "logging_nan_inf_filter" in err[0]
    assert not (out / "main" / "final").exists()


def test_a_corrected_rerun_restarts_a_stage_that_failed_before_its_first_checkpoint(tmp_path, monkeypatch, capsys):
    import longft.train.trainer as trainer

    out = tmp_path / "out"

    def fails(*args, **kwargs):
        raise RecipeError("a failure after the stage started")

    monkeypatch.setattr(trainer, "train_stage", fails)
    assert main([*SMOKE_TRAIN, "--train.learning_rate", "0.5", "--output_dir", str(out)]) == 2
    assert (out / "main" / "longft_stage_started.json").is_file()
    monkeypatch.undo()
    capsys.readouterr()
    assert main([*SMOKE_TRAIN, "--output_dir", str(out)]) == 0
    said = capsys.readouterr().out
    assert "stopped before its first checkpoint" in said and "train.learning_rate: 0.5 there" in said
    assert (out / "main" / "final" / "model.safetensors").is_file()


def test_out_of_disk_during_a_checkpoint_save_is_one_line_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    """torch.save onto a full disk raises a RuntimeError that names no errno ("unexpected pos")."""
    import torch

    from longft import outputs

    out = tmp_path / "out"
    original_save = torch.save

    def full_disk_save(obj, f, *args, **kwargs):
        if str(f).endswith("optimizer.pt") and "checkpoint-2" in str(f):
            Path(f).write_bytes(b"half")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 5120 vs 5012")
        return original_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk_save)
    monkeypatch.setattr(outputs, "free_bytes", lambda path: 0)
    args = [*SMOKE_TRAIN, "--train.max_steps", "3", "--output_dir", str(out)]
    assert main(args) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("longft")]
    assert len(err) == 1 and "out of disk space" in err[0] and "checkpoints" in err[0]
    monkeypatch.undo()
    assert main(args) == 0  # space freed: the half-written checkpoint is skipped, the run completes
    assert (out / "main" / "final" / "model.safetensors").is_file()


def test_a_text_file_deleted_after_the_check_fails_the_run_naming_it(tmp_path):
    from longft.data.sources import check_sources, load_documents

    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text(f"document {i}\n" * 20)
    source = [{"type": "text_dir", "path": str(folder)}]
    check_sources(source, log=lambda *a, **k: None)
    (folder / "1.txt").unlink()
    with pytest.raises(RecipeError, match=r"1 file\(s\) the pre-run check read are gone now, the first .*1\.txt"):
        load_documents(source)


def test_a_jsonl_file_deleted_after_the_check_fails_naming_it(tmp_path):
    from longft.data.sources import check_sources, load_documents, sources_fingerprint

    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"text": "hello"}) + "\n")
    source = [{"type": "jsonl", "path": str(docs)}]
    check_sources(source, log=lambda *a, **k: None)
    docs.unlink()
    for step in (sources_fingerprint, load_documents):
        with pytest.raises(RecipeError, match=r"d\.jsonl.*gone now"):
            step(source)


def test_a_symlinked_folder_in_a_text_dir_is_followed_and_said(tmp_path):
    from longft.data.sources import check_sources, load_documents

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "b.txt").write_text("linked text\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("plain text\n")
    (tmp_path / "d" / "more").symlink_to(tmp_path / "real")
    said = []
    source = [{"type": "text_dir", "path": str(tmp_path / "d")}]
    check_sources(source, log=lambda text, **k: said.append(text))
    assert "2 document(s)" in said[0] and "followed 1 symlinked folder" in said[0] and "more" in said[0]
    assert sorted(load_documents(source)["text"]) == ["linked text\n", "plain text\n"]


@pytest.mark.parametrize("layout", ["dictionary", "string_view", "large_string"])
def test_parquet_text_in_any_arrow_string_layout_is_read(layout, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from longft.data.sources import check_sources, load_documents

    texts = ["first document", "second document"]
    column = {"dictionary": pa.array(texts).dictionary_encode(), "string_view": pa.array(texts, type=pa.string_view()),
              "large_string": pa.array(texts, type=pa.large_string())}[layout]
    pq.write_table(pa.table({"text": column}), tmp_path / "d.parquet")
    source = [{"type": "parquet", "path": str(tmp_path / "d.parquet")}]
    check_sources(source, log=lambda *a, **k: None)
    assert list(load_documents(source)["text"]) == texts


def test_parquet_whose_every_text_is_empty_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from longft.data.sources import check_sources

    pq.write_table(pa.table({"text": ["", "  \n"]}), tmp_path / "d.parquet")
    with pytest.raises(RecipeError, match=r"column 'text' is empty in every one of its 2 row"):
        check_sources([{"type": "parquet", "path": str(tmp_path / "d.parquet")}])


def test_an_unwritable_datasets_cache_is_found_before_training(tmp_path, monkeypatch):
    import datasets

    from longft.pipeline import planned_stages, preflight

    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(blocker / "datasets"))
    recipe = load_recipe("tiny-pi-4x", parse_overrides(["--output_dir", str(tmp_path / "out")]), smoke=True)
    with pytest.raises(RecipeError, match=r"datasets cache \(HF_DATASETS_CACHE\).*is a file"):
        preflight(recipe, planned_stages(recipe))


def test_smoke_says_it_sets_a_command_line_model_aside(tmp_path, capsys):
    from longft.pipeline import planned_stages

    recipe = load_recipe("tiny-pi-4x", parse_overrides(["--model.name_or_path", "/my/model"]), smoke=True)
    planned_stages(recipe)
    said = capsys.readouterr().out
    assert "not used, since --smoke trains the tiny stand-in model: --model.name_or_path '/my/model'" in said


def test_a_model_config_with_no_window_is_refused(checkpoint, tmp_path):
    from longft.pipeline import planned_stages, preflight

    model = tmp_path / "model"
    shutil.copytree(checkpoint, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 0}))
    recipe = load_recipe("tiny-yarn-4x", parse_overrides(
        ["--model.name_or_path", str(model), "--position.original_max_position_embeddings", "null",
         "--data.seq_len", "2048", "--output_dir", str(tmp_path / "out")]))
    with pytest.raises(RecipeError, match=r"original window of 0 .*position\.original_max_position_embeddings"):
        preflight(recipe, planned_stages(recipe))
    assert os.listdir(tmp_path) == ["model"]


def test_an_error_other_than_a_full_disk_is_not_relabelled(tmp_path):
    from longft.outputs import disk_full_message, raise_if_disk_full

    assert disk_full_message(OSError(errno.EACCES, "Permission denied")) is None
    raise_if_disk_full(RuntimeError("a bug"), tmp_path)  # a disk with room: the error stays what it was
