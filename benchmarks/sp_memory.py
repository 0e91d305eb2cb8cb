"""Per-rank peak memory of a training step with sequence parallelism (SP = 2) against one rank (SP = 1).

    python benchmarks/sp_memory.py [--lengths 8192 16384 32768] [--vocab 32000]

The testbed's architecture (4 layers, hidden 256, 4 heads) with a real-size vocabulary, fp32 on the
CPU, activation checkpointing and longft's chunked loss (1024 tokens), AdamW, two steps. SP = 2 is two
processes over gloo: DeepSpeed's UlyssesSPAttentionHF around longft's full attention, each rank
holding half of the sequence, the loss per shard (longft.train.sequence_parallel.shard_loss), the
gradients summed over the two ranks. Each measurement is a fresh launch; the figure is the largest
peak resident memory of a rank above what it held before the model was built, with glibc's
allocator at a fixed mmap threshold (see plan_accuracy.py), next to `longft plan`'s estimate.
Run it alone on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1024


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def config_fields(vocab: int, length: int) -> dict:
    return dict(vocab_size=vocab, hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                num_key_value_heads=4, max_position_embeddings=length, tie_word_embeddings=False)


def rank_step(length: int, vocab: int) -> None:
    """One rank of an SP launch (or the only process): prints its peak as JSON."""
    import deepspeed
    import torch
    import torch.distributed as dist
    from transformers import AttentionInterface, LlamaConfig, LlamaForCausalLM
    from transformers.masking_utils import AttentionMaskInterface

    from longft.attention.full import make_full_attention, mask_or_none
    from longft.train.loss import shift_left
    from longft.train.sequence_parallel import shard_loss

    deepspeed.init_distributed(dist_backend="gloo")
    from deepspeed.runtime.sequence_parallel import parallel_state_sp

    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, 2 // world))
    before = rss_mib()
    model = LlamaForCausalLM._from_config(LlamaConfig(**config_fields(vocab, length)), attn_implementation="sdpa").train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    attention = make_full_attention("segments", log=lambda *a, **k: None)
    group = None
    if world > 1:
        from deepspeed.runtime.sequence_parallel.ulysses_sp import UlyssesSPAttentionHF

        parallel_state_sp.initialize_sequence_parallel(world)
        group = parallel_state_sp.get_sequence_parallel_group()
        cfg = model.config
        ulysses = UlyssesSPAttentionHF(attn=attention, batch_size=1, attn_head_count=cfg.num_attention_heads,
                                       attn_head_size=cfg.hidden_size // cfg.num_attention_heads,
                                       kv_head_count=cfg.num_key_value_heads, num_hidden_layers=cfg.num_hidden_layers,
                                       process_group=group, seq_length_is_variable=True)
        attention = lambda m, q, k, v, mask, *a, **kw: ulysses(m, q, k, v, None, *a, **kw)  # noqa: E731
    else:
        group = dist.new_group([0])
    AttentionInterface.register("bench_sp", attention)
    AttentionMaskInterface.register("bench_sp", mask_or_none)
    model.set_attn_implementation("bench_sp")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    head = model.get_output_embeddings()
    ids = torch.randint(3, vocab, (1, length))
    labels = shift_left(ids)
    shard = slice(rank * length // world, (rank + 1) * length // world)
    bounds = [0, length]
    for _ in range(2):
        out = model(input_ids=ids[:, shard], position_ids=torch.arange(length)[None, shard], cu_seq_lens_q=bounds,
                    cu_seq_lens_k=bounds, output_hidden_states=True, logits_to_keep=1, use_cache=False)
        loss = shard_loss(out.hidden_states[-1], labels[:, shard], head, CHUNK, group)
        loss.backward()
        del out
        for p in model.parameters():
            if world > 1:
                dist.all_reduce(p.grad)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    print(json.dumps({"rank": rank, "peak_mib": peak, "loss": loss.item()}), flush=True)


def launch(length: int, vocab: int, processes: int, port: int) -> list[dict]:
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--nproc_per_node", str(processes), "--master_port", str(port), __file__,
           "--one", str(length), "--vocab", str(vocab)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise RuntimeError((run.stderr.strip().splitlines() or ["killed"])[-1])
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def estimate_mib(length: int, vocab: int, sp: int) -> float:
    from longft.plan.architecture import Architecture
    from longft.plan.memory import Setup, estimate, total_gib
    from longft.recipe.schema import AdapterConfig, DataConfig, TrainConfig

    recipe = SimpleNamespace(train=TrainConfig(precision="fp32", gradient_checkpointing=True, loss_chunk_tokens=CHUNK),
                             data=DataConfig(seq_len=length), adapter=AdapterConfig(method="none"))
    arch = Architecture.from_fields(config_fields(vocab, length), "benchmark")
    return total_gib(estimate(arch, recipe, Setup(gpus=sp, sp=sp)), reserve=False) * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[8192, 16384, 32768])
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        rank_step(args.one, args.vocab)
        return
    print(f"{'tokens':>7} {'SP=1 MiB':>9} {'SP=2 MiB/rank':>14} {'SP2/SP1':>8} {'plan SP=1':>10} {'plan SP=2':>10} {'loss SP1':>9} {'loss SP2':>9}")
    for i, length in enumerate(args.lengths):
        print(f"[sp-memory] {length} tokens ...", file=sys.stderr, flush=True)
        one = launch(length, args.vocab, 1, 29701 + 2 * i)
        two = launch(length, args.vocab, 2, 29702 + 2 * i)
        p1, p2 = one[0]["peak_mib"], max(r["peak_mib"] for r in two)
        print(f"{length:>7} {p1:>9.0f} {p2:>14.0f} {p2 / p1:>8.2f} {estimate_mib(length, args.vocab, 1):>10.0f} "
              f"{estimate_mib(length, args.vocab, 2):>10.0f} {one[0]['loss']:>9.4f} {two[0]['loss']:>9.4f}")


if __name__ == "__main__":
    main()
