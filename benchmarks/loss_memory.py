"""Peak memory of one training step, transformers' loss against longft's chunked loss, by length.

    python benchmarks/loss_memory.py [--lengths 4096 8192 16384 32768] [--vocab 32000] [--chunk 1024]

The testbed architecture (4 layers, hidden 256) with a real-size vocabulary, fp32 on the CPU,
one sequence per step, forward and backward. Each measurement runs in a fresh process (a process's
peak resident memory only grows), and reports the peak during the step above the memory held
before it (model, optimizer-free). Measured, not estimated; run it alone on the machine.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

from fresh_process import measure_in_fresh_process  # benchmarks/ is the script's folder


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def one_step(length: int, mode: str, vocab: int, chunk: int) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from longft.train.loss import ChunkedCausalLMLoss

    torch.manual_seed(0)
    torch.set_num_threads(2)
    config = LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=length,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM._from_config(config, attn_implementation="sdpa").train()
    ids = torch.randint(3, vocab, (1, length))
    before = rss_mb()
    start = time.time()
    if mode == "plain":
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
    else:
        loss_fn = ChunkedCausalLMLoss(model, chunk)
        loss = loss_fn(model(input_ids=ids, use_cache=False, **loss_fn.model_inputs), ids)
    loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"length": length, "mode": mode, "step_peak_mb": round(peak - before, 1), "seconds": round(time.time() - start, 1),
            "loss": round(loss.item(), 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384, 32768])
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--one", nargs=2, metavar=("LENGTH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_step(int(args.one[0]), args.one[1], args.vocab, args.chunk)))
        return
    rows = {}
    for length in args.lengths:
        for mode in ("plain", "chunked"):
            print(f"[loss-memory] {mode} loss at {length} tokens ...", flush=True)
            rows[(length, mode)] = measure_in_fresh_process(
                __file__, ["--one", str(length), mode, "--vocab", str(args.vocab), "--chunk", str(args.chunk)], "loss-memory")
    print(f"\nstep peak above the model's memory, MB (vocab {args.vocab}, chunk {args.chunk} tokens, fp32, CPU)")
    print(f"{'tokens':>8}{'plain':>10}{'chunked':>10}{'chunked/plain':>15}{'plain x2N/N':>13}{'chunked x2N/N':>15}"
          f"{'plain s':>9}{'chunked s':>11}")
    for length in args.lengths:
        p, c = rows[(length, "plain")], rows[(length, "chunked")]
        half_p, half_c = rows.get((length // 2, "plain")), rows.get((length // 2, "chunked"))

        def cell(r):
            return f"{r['step_peak_mb']:.0f}" if r else "failed"

        def growth(r, h):
            return f"{r['step_peak_mb'] / h['step_peak_mb']:.2f}" if r and h else "-"

        ratio = f"{c['step_peak_mb'] / p['step_peak_mb']:.2f}" if p and c else "-"
        seconds = "".join(f"{r['seconds'] if r else '-':>{w}}" for r, w in ((p, 9), (c, 11)))
        print(f"{length:>8}{cell(p):>10}{cell(c):>10}{ratio:>15}{growth(p, half_p):>13}{growth(c, half_c):>15}{seconds}")
    same = [abs(rows[(n, 'plain')]['loss'] - rows[(n, 'chunked')]['loss']) for n in args.lengths
            if rows[(n, 'plain')] and rows[(n, 'chunked')]]
    if same:
        print(f"largest loss difference plain vs chunked: {max(same):.2e}")


if __name__ == "__main__":
    main()
