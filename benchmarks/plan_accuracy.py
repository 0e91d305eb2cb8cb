"""`longft plan`'s estimate against the measured peak memory of real training steps on the CPU.

    python benchmarks/plan_accuracy.py [--lengths 2048 8192] [--vocab 32000] [--long-only]

A Llama of the testbed's shape (4 layers, hidden 256) with a real-size vocabulary, fp32, AdamW,
one sequence per step, two optimizer steps (the second holds the optimizer state the first made).
Each configuration runs in a fresh process: the measured figure is its peak resident memory above
what it held before the model was built. The estimate is longft.plan.memory.estimate for one GPU
(no runtime reserve: there is no CUDA context here). glibc's allocator is run with a fixed mmap
threshold (MALLOC_MMAP_THRESHOLD_), so freed tensors go back to the system as they do from a
CUDA caching allocator's live set; without it the resident size keeps freed heap blocks and
measures the allocator, not the tensors. Run it alone on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from types import SimpleNamespace

from fresh_process import measure_in_fresh_process  # benchmarks/ is the script's folder

CONFIGS = [  # (activation checkpointing, loss chunk tokens or None, tiled MLP)
    (False, None, False), (False, 1024, False), (True, None, False), (True, 1024, False),
    (False, 1024, True), (True, 1024, True),
]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def recipe_like(length: int, checkpointing: bool, chunk, tiled: bool = False):
    from longft.recipe.schema import AdapterConfig, DataConfig, TrainConfig

    train = TrainConfig(precision="fp32", batch_size=1, gradient_checkpointing=checkpointing, loss_chunk_tokens=chunk,
                        tiled_mlp=tiled)
    return SimpleNamespace(train=train, data=DataConfig(seq_len=length), adapter=AdapterConfig(method="none"))


def config_fields(vocab: int, length: int) -> dict:
    return dict(vocab_size=vocab, hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                num_key_value_heads=4, max_position_embeddings=length, tie_word_embeddings=False)


def measure(length: int, checkpointing: bool, chunk, vocab: int, tiled: bool = False) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from longft.train.loss import ChunkedCausalLMLoss
    from longft.train.tiled_mlp import tile_mlps

    if tiled:  # its code is imported before the baseline, as torch's is
        import deepspeed.runtime.sequence_parallel.ulysses_sp  # noqa: F401
    torch.manual_seed(0)
    torch.set_num_threads(2)
    before = rss_mib()
    model = LlamaForCausalLM._from_config(LlamaConfig(**config_fields(vocab, length)), attn_implementation="sdpa").train()
    if tiled:
        tile_mlps(model)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = ChunkedCausalLMLoss(model, chunk) if chunk else None
    ids = torch.randint(3, vocab, (1, length))
    for _ in range(2):
        if loss_fn is None:
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        else:
            loss = loss_fn(model(input_ids=ids, use_cache=False, **loss_fn.model_inputs), ids)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        del loss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"measured_mib": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--long-only", action="store_true",
                        help="only the long-sequence setups: activation checkpointing and a chunked loss")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        length, ckpt, chunk, tiled = int(args.one[0]), args.one[1] == "1", int(args.one[2]) or None, args.one[3] == "1"
        print(json.dumps(measure(length, ckpt, chunk, args.vocab, tiled)))
        return
    from longft.plan.architecture import Architecture
    from longft.plan.memory import Setup, estimate, total_gib

    arch = Architecture.from_fields(config_fields(args.vocab, 0), "benchmark")
    print(f"{'tokens':>7} {'checkpointing':>13} {'loss':>12} {'MLP':>6} {'estimate MiB':>13} {'measured MiB':>13} "
          f"{'est/meas':>9}")
    worst = 0.0
    for length in args.lengths:
        for ckpt, chunk, tiled in CONFIGS:
            if args.long_only and not (ckpt and chunk):
                continue
            print(f"[plan-accuracy] {length} tokens, checkpointing {ckpt}, chunk {chunk}, tiled MLP {tiled} ...",
                  file=sys.stderr, flush=True)
            one = ["--one", str(length), "1" if ckpt else "0", str(chunk or 0), "1" if tiled else "0", "--vocab", str(args.vocab)]
            run = measure_in_fresh_process(__file__, one, "plan-accuracy", env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"})
            if run is None:
                continue
            measured = run["measured_mib"]
            est = total_gib(estimate(arch, recipe_like(length, ckpt, chunk, tiled), Setup(gpus=1)), reserve=False) * 1024
            worst = max(worst, abs(est / measured - 1))
            loss = f"chunk {chunk}" if chunk else "full logits"
            mlp = "tiled" if tiled else "whole"
            print(f"{length:>7} {'on' if ckpt else 'off':>13} {loss:>12} {mlp:>6} {est:>13.0f} {measured:>13.0f} "
                  f"{est / measured:>9.2f}")
    print(f"largest relative error: {worst:.1%}")


if __name__ == "__main__":
    main()
