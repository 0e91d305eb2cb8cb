"""The masked attention (log-n, hybrid's full layers) where the pairs are only causal: a written-out
(N x N) mask with the KV heads repeated, against no mask (SDPA's causal rule and its GQA).

One row, SmolLM2-135M's attention shape by default (9 query heads, 3 KV heads, head size 64),
log-n's scaling past 8,192 tokens, as in evaluation and prefill. Prints the median time of each,
their ratio, and the largest difference between their outputs, all measured in this one run:
    python benchmarks/masked_attention_speed.py [--lengths 4096 8192 16384] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from longft.attention.masked import allowed_pairs, attend, logn_factor, mask_unless_causal


def timed(fn, repeats: int) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--kv_heads", type=int, default=3)
    parser.add_argument("--head_dim", type=int, default=64)
    parser.add_argument("--logn_base", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    print(f"threads {torch.get_num_threads()}, {args.heads} heads / {args.kv_heads} KV heads x {args.head_dim}, "
          f"{args.dtype}, log-n base {args.logn_base}, forward, median of {args.repeats}", flush=True)
    print(f"{'tokens':>7}  {'mask':>9}  {'causal':>9}  {'ratio':>6}  {'max |diff|':>10}", flush=True)
    for n in args.lengths:
        g = torch.Generator().manual_seed(0)
        q = torch.randn(1, args.heads, n, args.head_dim, generator=g).to(dtype)
        k, v = (torch.randn(1, args.kv_heads, n, args.head_dim, generator=g).to(dtype) for _ in range(2))
        scale = logn_factor(torch.arange(n)[None], args.logn_base)

        def written():
            return attend(q, k, v, allowed_pairs(1, n, n, q.device, {}), None, scale)

        def causal():
            return attend(q, k, v, mask_unless_causal(1, n, n, q.device, {}), None, scale)

        with torch.no_grad():
            t_mask, out_mask = timed(written, args.repeats)
            t_causal, out_causal = timed(causal, args.repeats)
        diff = (out_mask.float() - out_causal.float()).abs().max().item()
        print(f"{n:>7}  {t_mask:>8.3f}s  {t_causal:>8.3f}s  {t_causal / t_mask:>6.2f}  {diff:>10.2e}", flush=True)


if __name__ == "__main__":
    main()
