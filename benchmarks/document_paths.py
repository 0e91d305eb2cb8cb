"""What keeping packed documents apart costs, path by path, and what `path: auto` picks.

    python benchmarks/document_paths.py [--lengths 256 1024 4096 8192] [--heads 4] [--head-dim 64]

Forward + backward of full attention on one packed row, timed for the `dense` path (SDPA under a
block-diagonal mask), the `segments` path (per-document SDPA) and, as the reference, leaky causal
SDPA over the whole row (documents see each other: what not keeping them apart would cost). Rows
are cut into documents of log-normal lengths (median ~670 tokens, as the packing benchmark) and, as
the case that favours the dense mask, into many short documents of many lengths. Printed per row:
milliseconds, each path's time over leaky causal (ratios measured in one run), the cost estimates
of attention/path_cost.py and the path `auto` takes. Measure alone: another process on the cores
changes every figure.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from longft.attention.boundaries import document_starts
from longft.attention.full import PATHS, choose_path
from longft.attention.path_cost import costs


def lognormal_cut(n: int, rng) -> list[int]:
    lengths = []
    while sum(lengths) < n:
        lengths.append(max(1, int(rng.lognormal(6.5, 1.2))))
    lengths[-1] -= sum(lengths) - n
    return [x for x in lengths if x > 0]


def short_cut(n: int, rng) -> list[int]:
    lengths = []
    while sum(lengths) < n:
        lengths.append(int(rng.integers(2, 40)))
    lengths[-1] -= sum(lengths) - n
    return [x for x in lengths if x > 0]


def timed(fn, reps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def measure(lengths: list[int], heads: int, head_dim: int) -> dict:
    n = sum(lengths)
    cu = torch.tensor([0, *np.cumsum(lengths).tolist()], dtype=torch.int32)
    starts = document_starts(cu, 1, n, "cpu")
    q, k, v = (torch.randn(1, heads, n, head_dim, requires_grad=True) for _ in range(3))
    reps = max(2, int(2e7 // (n * n)))

    def run(path):
        def step():
            if path == "causal":
                out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                out = PATHS[path](q, k, v, starts, None, cu)
            out.sum().backward()
        return step

    seconds = {path: timed(run(path), reps) for path in ("causal", "dense", "segments")}
    return {"tokens": n, "documents": len(lengths), "lengths": len(set(lengths)), **seconds,
            "estimate": costs(cu, 1, n, heads, head_dim), "auto": choose_path("auto", n, False, 8192, cu, 1, heads,
                                                                              head_dim)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096, 8192])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for cut_name, cut in (("log-normal", lognormal_cut), ("short", short_cut)):
        for n in args.lengths:
            rng = np.random.default_rng(n)
            row = {"documents as": cut_name, **measure(cut(n, rng), args.heads, args.head_dim)}
            rows.append(row)
            print(f"[paths] {cut_name} {n}: done", flush=True)
    print(f"\nforward + backward, {args.heads} heads x {args.head_dim}, one row; ratios over leaky causal SDPA")
    print(f"{'documents':>10} {'tokens':>7} {'docs':>5} {'lengths':>7} {'causal ms':>10} {'dense':>7} {'segments':>9}"
          f" {'est. dense':>11} {'est. segm.':>11}  auto    fastest")
    agree = 0
    for r in rows:
        fastest = "dense" if r["dense"] < r["segments"] else "segments"
        agree += fastest == r["auto"]
        print(f"{r['documents as']:>10} {r['tokens']:>7} {r['documents']:>5} {r['lengths']:>7} "
              f"{1000 * r['causal']:>10.2f} {r['dense'] / r['causal']:>6.2f}x {r['segments'] / r['causal']:>8.2f}x "
              f"{r['estimate']['dense']:>11.3g} {r['estimate']['segments']:>11.3g}  {r['auto']:<9} {fastest}")
    print(f"\nauto took the faster path in {agree} of {len(rows)} rows")


if __name__ == "__main__":
    main()
