"""The smollm2 recipe set on a real pretrained model, SmolLM2-135M-Instruct, from one measured run.

    python benchmarks/smollm2_recipes.py [--out runs/smollm2] [--only NAME ...] [--baselines METHOD ...]

Runs each recipe end to end (train or search, export, its own evaluation) into --out/NAME, timed,
then joins the reports into one table: perplexity by length, passkey and the RULER tasks' average
by length, the effective length, and the wall-clock of each recipe. Written as summary.md (the docs
page's table), results.json and a perplexity-by-length plot. A recipe whose report is already
there is read back, not re-run, so an interrupted run resumes. `--baselines METHOD ...` runs only
those zero-shot rows (eval.zero_shot_baselines names, e.g. sinks) for each recipe: the base with the
method, scored with that recipe's evaluation settings into --out/NAME/baseline-METHOD.json, timed
on its own (rows added to a set measured before). Run it alone on the machine.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the recipes' data paths are relative to it
RECIPES = [  # zero-shot at 16k first: its report holds the base's rows; 32k last, the longest forwards
    "smollm2-zeroshot-16k",
    "smollm2-yarn-16k",
    "smollm2-longlora-16k",
    "smollm2-pose-32k",
    "smollm2-zeroshot-32k",
]


def source_commit() -> str | None:
    """The commit the run's code is at (with "+edits" where its docs or tests differ from it)."""
    import subprocess

    got = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "docs", "tests"], capture_output=True, text=True)
    return (got.stdout.strip() + ("+edits" if dirty.stdout.strip() else "")) if got.returncode == 0 else None


def held_out_digest(root: Path = REPO) -> str:
    """A digest of the held-out text itself (this repository's docs and tests, as the recipes read
    them): rows with the same digest were scored on the same text, whatever commit the code was at."""
    import hashlib

    digest = hashlib.sha256()
    files = (p for folder in ("docs", "tests") for p in (root / folder).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts)  # bytecode is not text the recipes read
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def run_one(name: str, out: Path) -> dict:
    """The recipe's report models (each labelled with the recipe), its wall-clock seconds and the
    commit its held-out text came from."""
    from longft.pipeline import run_recipe
    from longft.validation import load_recipe

    folder = out / name
    done = folder / "report" / "report.json"
    timing = folder / "wall_clock.json"
    if not done.exists():
        started = time.time()
        run_recipe(load_recipe(name, {"output_dir": str(folder)}))
        timing.write_text(json.dumps({"seconds": round(time.time() - started, 1), "commit": source_commit(),
                                      "held_out": held_out_digest()}))
    report = json.loads(done.read_text())
    measured = json.loads(timing.read_text()) if timing.exists() else {}
    return {"recipe": name, "seconds": measured.get("seconds"), "commit": measured.get("commit"),
            "held_out": measured.get("held_out"),
            "window": report["original_window"], "models": report["models"]}


def last_stage(name: str, out: Path):
    from longft.validation import load_recipe, stage_recipes

    return stage_recipes(load_recipe(name, {"output_dir": str(out / name)}))[-1][1]


def run_baseline(name: str, stage, method: str, out: Path) -> dict:
    """One zero-shot baseline of the recipe's base, with the recipe's evaluation settings, as a report
    model; read back when it was measured before."""
    from transformers import AutoTokenizer

    from longft.eval.run import zero_shot_model
    from longft.eval.suite import evaluate_model
    from longft.models import resolve_model_path
    from longft.positions.schemes import target_length

    done = out / name / f"baseline-{method}.json"
    if done.exists():
        return json.loads(done.read_text())
    ev, base = stage.eval, resolve_model_path(stage.model.name_or_path)
    window, target = stage.position.original_max_position_embeddings, target_length(stage)
    tokenizer = AutoTokenizer.from_pretrained(base)
    frame = None
    if ev.chat_template:
        from longft.eval.chat import chat_frame

        frame = chat_frame(tokenizer)
    started = time.time()
    model, label = zero_shot_model(base, method, window, target, ev.dtype)
    result = evaluate_model(model, tokenizer, ev, window, target, label, None, frame)
    measured = {"model": result, "seconds": round(time.time() - started, 1), "commit": source_commit(),
                "held_out": held_out_digest()}
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(measured, indent=2))
    return measured


def baseline_rows(name: str, methods: list[str], out: Path) -> dict:
    """The recipe's rows for the zero-shot baselines `methods` alone, in run_one's form."""
    stage, measured = last_stage(name, out), []
    for method in methods:
        print(f"[smollm2-recipes] {name}: zero-shot baseline {method}", flush=True)
        measured.append(run_baseline(name, stage, method, out))
    first = measured[0]
    return {"recipe": name, "seconds": sum(m["seconds"] for m in measured), "commit": first["commit"],
            "held_out": first["held_out"], "window": stage.position.original_max_position_embeddings,
            "models": [m["model"] for m in measured]}


def table(runs: list[dict]) -> str:
    ppl_lengths = sorted({int(n) for run in runs for m in run["models"] for n in m["fixed_target_ppl"]})
    slide_lengths = sorted({int(n) for run in runs for m in run["models"] for n in m.get("sliding_window_ppl", {})})
    key_lengths = sorted({int(n) for run in runs for m in run["models"] for n in m["passkey"]["lengths"]})
    ruler_lengths = sorted({int(n) for run in runs for m in run["models"] if "ruler" in m for n in m["ruler"]["average"]})
    head = (["recipe", "model"] + [f"ppl@{n}" for n in ppl_lengths] + [f"sliding ppl@{n}" for n in slide_lengths]
            + [f"passkey@{n}" for n in key_lengths]
            + [f"RULER@{n}" for n in ruler_lengths] + ["effective length", "recipe wall-clock"])
    rows = [head, ["---"] * len(head)]
    for run in runs:
        for m in run["models"]:
            ppl = [f"{m['fixed_target_ppl'][str(n)]:.2f}" if str(n) in m["fixed_target_ppl"] else "" for n in ppl_lengths]
            slides = m.get("sliding_window_ppl", {})
            slide = [f"{slides[str(n)]:.2f}" if str(n) in slides else "" for n in slide_lengths]
            keys = dict(zip(m["passkey"]["lengths"], m["passkey"]["accuracy"]))
            acc = [f"{sum(keys[n]) / len(keys[n]):.0%}" if n in keys else "" for n in key_lengths]
            ruler = m["ruler"]["average"] if "ruler" in m else {}
            avg = [f"{100 * ruler[str(n)]:.0f}" if str(n) in ruler else "" for n in ruler_lengths]
            effective = str(m["ruler"].get("effective_length") or "undefined") if "ruler" in m else ""
            wall = f"{run['seconds'] / 60:.1f} min" if run["seconds"] and m is run["models"][-1] else ""
            rows.append([run["recipe"], m["label"]] + ppl + slide + acc + avg + [effective, wall])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main() -> None:
    import os

    from longft.eval.report import plot_perplexity

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/smollm2")
    parser.add_argument("--only", nargs="*", default=None, help="recipes to run (default: the whole set)")
    parser.add_argument("--baselines", nargs="*", default=[],
                        help="only these zero-shot baselines (e.g. sinks) of each recipe's base, nothing else re-run")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    os.chdir(REPO)
    started = time.time()
    names = args.only or ([n for n in RECIPES if "zeroshot" in n] if args.baselines else RECIPES)
    written = "-baselines" if args.baselines else ""  # added rows beside the set's table, not over it
    runs = []
    for i, name in enumerate(names, 1):
        print(f"[smollm2-recipes] {i}/{len(names)}: {name} ({time.time() - started:.0f}s so far)", flush=True)
        run = baseline_rows(name, args.baselines, out) if args.baselines else run_one(name, out)
        runs.append(run)
    summary = table(runs)
    texts = {run["held_out"] for run in runs}
    if len(texts) > 1:  # the held-out docs and tests differ between rows
        summary += ("\n\nHeld-out text differs between rows: "
                    + ", ".join(f"{run['recipe']} on {run['held_out'] or 'unrecorded text'} (code at {run['commit']})"
                                for run in runs))
        print(f"[smollm2-recipes] warning: the recipes were scored on different held-out text {sorted(map(str, texts))}",
              flush=True)
    (out / f"summary{written}.md").write_text(summary + "\n")
    (out / f"results{written}.json").write_text(json.dumps(runs, indent=2))
    models = [dict(m, label=f"{run['recipe']}: {m['label']}") for run in runs for m in run["models"]]
    plot_perplexity(models, runs[0]["window"], out / f"perplexity_by_length{written}.png")
    print(f"\n{summary}\n\n[smollm2-recipes] {len(runs)} recipes in {(time.time() - started) / 60:.1f} min; "
          f"table, results and plot in {out}", flush=True)


if __name__ == "__main__":
    main()
