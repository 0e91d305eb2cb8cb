"""FoT memory-cache inference: time and peak memory of reading a context, by length.

    python benchmarks/fot_inference.py [--lengths 1024 2048 4096 8192] [--window 256]

The testbed architecture (4 layers, hidden 256, vocabulary 2048) with one memory layer (layer 2),
fp32 on the CPU, one row. `fot` reads the context window by window through the memory cache
(methods/fot/memory.py); `full` is one forward of ordinary attention over the whole context, for
scale. Each measurement runs in a fresh process (a process's peak resident memory only grows) and
reports the peak above the memory held before (the model). Measured, not estimated; run it alone.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

from fresh_process import measure_in_fresh_process  # benchmarks/ is the script's folder


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def one_read(length: int, mode: str, window: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from longft.methods.registry import use_attention
    from longft.methods.fot.memory import FotMemoryModel
    from longft.recipe.schema import AttentionConfig

    torch.manual_seed(0)
    torch.set_num_threads(2)
    config = LlamaConfig(vocab_size=2048, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=max(window, length),
                         tie_word_embeddings=True)
    model = LlamaForCausalLM._from_config(config, attn_implementation="sdpa").eval()
    ids = torch.randint(3, 2048, (1, length))
    if mode == "fot":
        params = {"memory_layers": [2], "window": window, "windows_per_stream": 1, "cross_batch": 0}
        model = FotMemoryModel(use_attention(model, AttentionConfig(method="fot", params=params), window), window, [2])
    before = rss_mb()
    start = time.time()
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    seconds = time.time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"length": length, "mode": mode, "peak_mb": round(peak - before, 1), "seconds": round(seconds, 2),
            "finite": bool(torch.isfinite(logits).all())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--one", nargs=2, metavar=("LENGTH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_read(int(args.one[0]), args.one[1], args.window)))
        return
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}  # RSS tracks what is in use, not what malloc keeps
    rows = {}
    for length in args.lengths:
        for mode in ("fot", "full"):
            print(f"[fot-inference] {mode} over {length} tokens ({length // args.window}x the window) ...", flush=True)
            rows[(length, mode)] = measure_in_fresh_process(
                __file__, ["--one", str(length), mode, "--window", str(args.window)], "fot-inference", env)
    print(f"\nreading a context, window {args.window}, one memory layer of 4 (fp32, CPU, 2 threads)")
    print(f"{'tokens':>8}{'x window':>10}{'fot s':>8}{'fot MB':>9}{'fot s x2N/N':>13}{'fot MB x2N/N':>14}"
          f"{'full s':>8}{'full MB':>9}")
    for length in args.lengths:
        f, p = rows[(length, "fot")], rows[(length, "full")]
        half = rows.get((length // 2, "fot"))

        def ratio(key):
            return f"{f[key] / half[key]:.2f}" if f and half and half[key] > 0 else "-"

        def num(r, key):
            return f"{r[key]:g}" if r else "failed"

        print(f"{length:>8}{length // args.window:>10}{num(f, 'seconds'):>8}{num(f, 'peak_mb'):>9}{ratio('seconds'):>13}"
              f"{ratio('peak_mb'):>14}{num(p, 'seconds'):>8}{num(p, 'peak_mb'):>9}")


if __name__ == "__main__":
    main()
