"""Train-step memory and speed on a real pretrained model: SmolLM2-135M-Instruct (`smollm2-135m`).

    python benchmarks/smollm2_memory.py [--lengths 4096 8192 16384] [--memory-gib 24] [--steps 2]
                                        [--precision auto-mixed]

Three setups in one precision (bf16 autocast where the CPU has native bf16, fp32 where it has not:
--precision auto-mixed; or bf16-mixed / fp32), one packed sequence per step, AdamW:
  plain    transformers' Trainer on the model as loaded (SDPA, full logits, no checkpointing)
  default  `longft train` with the recipe defaults (documents kept apart, full logits)
  lean     `longft train` with activation checkpointing, the chunked loss and the tiled MLP
Every measurement runs in a fresh process and reports that process's peak resident memory (model,
optimizer state and data included: what the machine must hold) and tokens/s over the steps run
(longft's throughput callback in all three). A setup is run at a length only where `longft plan`
says its step fits in --memory-gib (a step past the machine's memory would be killed, not measured);
the longest length each setup fits is found by bisection on the plan, which the measured peaks check.
Run it alone on the machine: two torch processes on two cores slow each other several-fold.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from fresh_process import measure_in_fresh_process  # benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parents[1]  # the recipe's data paths are relative to it
MODEL = "smollm2-135m"
RECIPE = "smollm2-yarn-16k"  # its data (longft's own sources); the window is 8192
SETUPS = {  # name: (activation checkpointing, loss chunk tokens or None, tiled MLP)
    "plain": (False, None, False),
    "default": (False, None, False),
    "lean": (True, 2048, True),
}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def position_overrides(length: int) -> list[str]:
    """YaRN to the length past the 8192-token window (it changes no memory term), none within it."""
    if length <= 8192:
        return ["--position.method", "none"]
    return ["--position.method", "yarn", "--position.factor", str(length / 8192)]


def run_longft(setup: str, length: int, steps: int, precision: str) -> dict:
    from longft.cli import main

    ckpt, chunk, tiled = SETUPS[setup]
    with tempfile.TemporaryDirectory() as out:
        argv = ["train", RECIPE, "--output_dir", out, "--data.seq_len", str(length), "--train.max_steps", str(steps),
                "--train.save_steps", str(steps + 1), "--train.gradient_checkpointing", str(ckpt).lower(),
                "--train.loss_chunk_tokens", str(chunk) if chunk else "null", "--train.tiled_mlp", str(tiled).lower(),
                "--train.precision", precision, *position_overrides(length)]
        if main(argv) != 0:
            raise SystemExit(f"longft {' '.join(argv)} failed")
        summary = json.loads(next(Path(out).glob("*/train_summary.json")).read_text())
    return {"tokens_per_s": summary["tokens_per_s"], "loss": summary["train_loss"]}


def run_plain(length: int, steps: int, precision: str) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    from longft.models import resolve_model_path
    from longft.train.callbacks import ThroughputCallback

    torch.manual_seed(0)
    folder = resolve_model_path(MODEL)
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa", dtype=torch.float32)
    model.config.use_cache = False
    if length > model.config.max_position_embeddings:  # the same YaRN as longft's runs, through the config
        model.config.rope_parameters = {**model.config.rope_parameters, "rope_type": "yarn",
                                        "factor": length / 8192, "original_max_position_embeddings": 8192}
        model = AutoModelForCausalLM.from_pretrained(folder, config=model.config, attn_implementation="sdpa",
                                                     dtype=torch.float32)
    ids = torch.randint(3, model.config.vocab_size, (steps, length)).tolist()
    data = datasets.Dataset.from_dict({"input_ids": ids, "labels": ids})
    cfg = model.config
    throughput = ThroughputCallback(tokens_per_step=length, n_params=sum(p.numel() for p in model.parameters()),
                                    n_layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, seq_len=length)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=1, learning_rate=2e-5,
                                 bf16=precision == "bf16-mixed", use_cpu=True, report_to="none", save_strategy="no", logging_steps=1,
                                 disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[throughput])
        trainer.train()
        summary = throughput.summary(trainer.state)
    return {"tokens_per_s": summary["tokens_per_s"], "loss": summary["train_loss"]}


def measure(setup: str, length: int, steps: int, precision: str) -> dict:
    import os

    import torch

    os.chdir(REPO)
    torch.set_num_threads(2)
    start = time.time()
    result = run_plain(length, steps, precision) if setup == "plain" else run_longft(setup, length, steps, precision)
    return {**result, "peak_mib": peak_mib(), "wall_s": time.time() - start}


def planned_gib(arch, setup: str, length: int, precision: str) -> float:
    from longft.plan.memory import Setup, estimate, total_gib
    from longft.recipe.schema import AdapterConfig, DataConfig, TrainConfig

    ckpt, chunk, tiled = SETUPS[setup]
    train = TrainConfig(precision=precision, batch_size=1, gradient_checkpointing=ckpt, loss_chunk_tokens=chunk,
                        tiled_mlp=tiled)
    recipe = SimpleNamespace(train=train, data=DataConfig(seq_len=length), adapter=AdapterConfig(method="none"))
    return total_gib(estimate(arch, recipe, Setup(gpus=1)), reserve=False)


def planned_to_fit(arch, setup: str, length: int, memory_gib: float, precision: str) -> bool:
    """The plan's own test of a fit: its estimate raised by its margin (no GPU runtime reserve here)."""
    from longft.plan.memory import MARGIN

    return planned_gib(arch, setup, length, precision) * (1 + MARGIN) <= memory_gib


def longest_fitting(arch, setup: str, memory_gib: float, precision: str) -> int:
    """The longest length (a multiple of 1024) whose planned step fits, by bisection."""
    low, high = 0, 1
    while planned_to_fit(arch, setup, high * 1024, memory_gib, precision):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if planned_to_fit(arch, setup, mid * 1024, memory_gib, precision) else (low, mid)
    return low * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--memory-gib", type=float, default=24.0, help="the machine's memory the plan must fit")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--precision", default="auto-mixed", choices=["auto-mixed", "bf16-mixed", "fp32"],
                        help="auto-mixed: bf16-mixed where bf16 matmuls are native here, fp32 where not")
    parser.add_argument("--one", nargs=2, metavar=("SETUP", "LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    from longft.precision import resolve_precision

    precision = resolve_precision(args.precision)
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.steps, precision)))
        return
    print(f"[smollm2-memory] precision {precision} (--precision {args.precision})", file=sys.stderr, flush=True)
    from longft.models import NAMED_ARCHITECTURES
    from longft.plan.architecture import Architecture

    arch = Architecture.from_fields(NAMED_ARCHITECTURES[MODEL]().to_dict(), MODEL)
    rows = []
    for length in args.lengths:
        for setup in SETUPS:
            plan = planned_gib(arch, setup, length, precision)
            if not planned_to_fit(arch, setup, length, args.memory_gib, precision):
                print(f"[smollm2-memory] {setup} at {length}: planned {plan:.1f} GiB does not fit {args.memory_gib:g} "
                      "with the plan's margin; not run",
                      file=sys.stderr, flush=True)
                rows.append((length, setup, plan, None))
                continue
            print(f"[smollm2-memory] {setup} at {length} tokens (planned {plan:.1f} GiB) ...", file=sys.stderr, flush=True)
            one = ["--one", setup, str(length), "--steps", str(args.steps), "--precision", precision]
            rows.append((length, setup, plan, measure_in_fresh_process(__file__, one, "smollm2-memory")))
    print(f"{'tokens':>7} {'setup':>8} {'plan GiB':>9} {'peak GiB':>9} {'tokens/s':>9} {'x plain mem':>12} "
          f"{'x plain speed':>14} {'loss':>7}")
    plain = {length: run for length, setup, _, run in rows if setup == "plain" and run}
    for length, setup, plan, run in rows:
        if run is None:
            print(f"{length:>7} {setup:>8} {plan:>9.1f} {'-':>9} {'-':>9}")
            continue
        base = plain.get(length)
        mem = f"{run['peak_mib'] / base['peak_mib']:.2f}" if base else "-"
        speed = f"{run['tokens_per_s'] / base['tokens_per_s']:.2f}" if base else "-"
        print(f"{length:>7} {setup:>8} {plan:>9.1f} {run['peak_mib'] / 1024:>9.1f} {run['tokens_per_s']:>9.0f} "
              f"{mem:>12} {speed:>14} {run['loss']:>7.3f}")
    for setup in SETUPS:
        print(f"longest step that fits {args.memory_gib:g} GiB by the plan, {setup}: "
              f"{longest_fitting(arch, setup, args.memory_gib, precision)} tokens")
    print(f"precision: {precision}")


if __name__ == "__main__":
    main()
