"""How fast the testbed base's architecture learns to copy from its context, on two synthetic tasks.

    python benchmarks/induction_probe.py [--steps 1500] [--batch 32] [--row 64] [--tasks ...] [--out runs/induction-probe]

Each task trains the testbed base's architecture (recipes/testbed-base.yaml) from scratch on rows of
random tokens in which every span is followed by a repeat of itself. Only the repeats are scored: the
first copy of a random span cannot be predicted, and scoring it drowns the copying signal.
- fixed offset: one span of row/2 tokens, then its repeat. Every answer lies exactly row/2 tokens
  back, so a head can learn it by relative position alone.
- variable offset: spans of random length (4 .. row/2 - 4) one after another, each repeated. The
  answer lies a different distance back in every span, so copying needs matching by content (an
  induction head), which is what passkey and the RULER tasks ask of a base.
- variable offset + code: the same copy rows mixed with code from the testbed's training split, in
  rows of the base's window (256 tokens): each row is code, or copy rows end to end, the copy share
  set by `--copy-share`. Every step holds as many tokens as the other tasks'. Code teaches a head to
  look at the previous token, the half of an induction head that random tokens give no reason for.

Every task is scored on held-out code too (perplexity over the window), the figure the base's
pretraining is judged by.

Every `--eval-every` steps both models are scored on fresh rows of both kinds (greedy next-token
accuracy over the repeats). A task stops once its own accuracy reaches `--target`; `--steps` is the
most either trains. Prints the step each task reached the target (or that it did not), writes
probe.json and probe.png (accuracy against step) into `--out`.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch

TASKS = ("fixed offset", "variable offset")  # the kinds of copy rows scored
MIXED = "variable offset + code"
WINDOW = 256  # the testbed base's window: the rows of code, and of the mixed task


def probe_rows(task: str, batch: int, row: int, vocab: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, labels) for `batch` rows of `row` tokens; labels are -100 outside the repeats."""
    ids, labels = [], []
    for _ in range(batch):
        spans = []
        while 2 * sum(spans) < row:
            spans.append(row // 2 if task == "fixed offset" else rng.randint(4, row // 2 - 4))
        x, y = [], []
        for n in spans:
            span = [rng.randrange(vocab) for _ in range(n)]
            x += span + span
            y += [-100] * n + span
        ids.append(x[:row])
        labels.append(y[:row])
    return torch.tensor(ids), torch.tensor(labels)


@torch.no_grad()
def copy_accuracy(model, task: str, row: int, vocab: int, rng: random.Random, rows: int = 64) -> float:
    model.eval()
    ids, labels = probe_rows(task, rows, row, vocab, rng)
    guess = model(input_ids=ids).logits[:, :-1].argmax(-1)
    target = labels[:, 1:]
    scored = target != -100
    model.train()
    return float((guess[scored] == target[scored]).float().mean())


def code_tokens(tokenizer, split: str, count: int) -> torch.Tensor:
    """The first `count` tokens of the testbed corpus's `split`, documents joined by EOS."""
    from longft.testbed.corpus import corpus_files, read_text

    ids: list[int] = []
    for path in corpus_files(split):
        ids += tokenizer(read_text(path), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(ids) >= count:
            break
    return torch.tensor(ids[:count])


def mixed_rows(args, code: torch.Tensor, vocab: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of WINDOW tokens, as many tokens as the copy tasks' step: each row is a window of code or,
    with probability `--copy-share`, WINDOW / row variable-offset copy rows end to end."""
    ids, labels = [], []
    for _ in range(args.batch * args.row // WINDOW):
        if rng.random() < args.copy_share:
            x, y = probe_rows("variable offset", WINDOW // args.row, args.row, vocab, rng)
            ids.append(x.reshape(-1))
            labels.append(y.reshape(-1))
        else:
            start = rng.randrange(len(code) - WINDOW)
            ids.append(code[start : start + WINDOW])
            labels.append(code[start : start + WINDOW])
    return torch.stack(ids), torch.stack(labels)


@torch.no_grad()
def heldout_perplexity(model, heldout: torch.Tensor) -> float:
    model.eval()
    loss = model(input_ids=heldout, labels=heldout).loss
    model.train()
    return math.exp(loss.item())


def testbed_model(model_config, vocab: int, seed: int):
    """The testbed base's architecture (`model_config`: its recipe's model section), freshly initialised."""
    from transformers import AutoModelForCausalLM

    from longft.models import architecture_config

    config = architecture_config(model_config)
    config.vocab_size = vocab
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def train_task(task: str, args, model_config, vocab: int, code: torch.Tensor, heldout: torch.Tensor) -> dict:
    """Train one model on `task`; its accuracy curve on both kinds of rows and its held-out perplexity."""
    model = testbed_model(model_config, vocab, args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    data_rng, eval_rng = random.Random(args.seed), random.Random(args.seed + 1)
    curve, reached, started = [], None, time.time()
    for step in range(args.steps + 1):
        if step % args.eval_every == 0 or step == args.steps:  # the summary reads the last point
            scores = {kind: copy_accuracy(model, kind, args.row, vocab, eval_rng) for kind in TASKS}
            ppl = heldout_perplexity(model, heldout)
            curve.append({"step": step, **scores, "heldout_ppl": ppl})
            print(f"[probe] {task}: step {step:5d}  " + "  ".join(f"{k} {v:6.1%}" for k, v in scores.items())
                  + f"  held-out ppl {ppl:8.1f}  ({time.time() - started:.0f}s)", flush=True)
            if scores[task.removesuffix(" + code")] >= args.target:
                reached = step
                break
        if step == args.steps:
            break
        for group in optimizer.param_groups:  # linear warmup, then constant
            group["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        if task == MIXED:
            ids, labels = mixed_rows(args, code, vocab, data_rng)
        else:
            ids, labels = probe_rows(task, args.batch, args.row, vocab, data_rng)
        model(input_ids=ids, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    return {"curve": curve, "reached_at": reached, "seconds": round(time.time() - started, 1)}


def plot(results: dict, target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5 * len(results), 6), sharex="col", sharey="row", squeeze=False)
    for column, (task, result) in enumerate(results.items()):
        steps = [point["step"] for point in result["curve"]]
        top, bottom = axes[0, column], axes[1, column]
        for kind in TASKS:
            top.plot(steps, [point[kind] for point in result["curve"]], label=f"scored on {kind} rows")
        top.axhline(target, color="grey", linestyle=":")
        top.set_ylim(0, 1)
        top.set_title(f"trained on {task} rows")
        bottom.plot(steps, [point["heldout_ppl"] for point in result["curve"]], color="black")
        bottom.set_yscale("log")
        bottom.set_xlabel("step")
    axes[0, 0].set_ylabel("copy accuracy")
    axes[0, 0].legend()
    axes[1, 0].set_ylabel("held-out code perplexity")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1500, help="most optimizer steps per task")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--row", type=int, default=64, help="tokens per row")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=[*TASKS, MIXED], metavar="TASK",
                        help=f"tasks to train, of: {', '.join(repr(t) for t in (*TASKS, MIXED))}")
    parser.add_argument("--copy-share", type=float, default=0.5, help="share of copy rows in the mixed task")
    parser.add_argument("--out", default="runs/induction-probe")
    args = parser.parse_args()
    if args.row < 16 or args.row % 2:
        parser.error(f"--row {args.row}: must be an even number >= 16 (spans run from 4 to row/2 - 4 tokens)")
    if MIXED in args.tasks and (WINDOW % args.row or args.batch * args.row < WINDOW):
        parser.error(f"--row {args.row} --batch {args.batch}: the mixed task needs a row that divides {WINDOW} "
                     f"and at least {WINDOW} tokens a step")
    if not 0 <= args.copy_share <= 1:
        parser.error(f"--copy-share {args.copy_share}: must lie in [0, 1]")

    from longft.models import load_tokenizer
    from longft.validation import load_recipe

    model_config = load_recipe("testbed-base").model
    tokenizer = load_tokenizer(model_config)
    vocab = len(tokenizer)
    print("[probe] tokenizing the testbed corpus", flush=True)
    heldout = code_tokens(tokenizer, "heldout", 40 * WINDOW).view(40, WINDOW)
    code = code_tokens(tokenizer, "train", 4_000_000) if MIXED in args.tasks else torch.empty(0)
    results = {task: train_task(task, args, model_config, vocab, code, heldout) for task in args.tasks}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps({"args": vars(args), "vocab": vocab, "results": results}, indent=2))
    plot(results, args.target, out / "probe.png")
    tokens = args.batch * args.row
    print(f"\n[probe] testbed base architecture, {tokens} tokens a step, lr {args.lr}")
    for task, result in results.items():
        last = result["curve"][-1]
        when = (f"reached {args.target:.0%} at step {result['reached_at']} ({result['reached_at'] * tokens:,} tokens)"
                if result["reached_at"] is not None else f"not at {args.target:.0%} within {args.steps} steps")
        print(f"  trained on {task:22s}: {when}, {result['seconds']:.0f}s; then "
              + ", ".join(f"{kind} rows {last[kind]:.1%}" for kind in TASKS)
              + f", held-out ppl {last['heldout_ppl']:.1f}")
    print(f"  wrote {out / 'probe.json'} and {out / 'probe.png'}")


if __name__ == "__main__":
    main()
