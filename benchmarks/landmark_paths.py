"""What each CPU path of landmark attention's grouped softmax costs in time and memory, and what
`path: auto` takes.

    python benchmarks/landmark_paths.py [--lengths 1024 2048 4096 8192] [--heads 4] [--head-dim 64]
                                        [--mem-freq 31] [--paths dense segments chunked]

Forward + backward of the attention function alone on one row holding one document (the case
where per-document attention saves nothing), each (path, length) in a fresh process so that its
peak resident memory is its own. Printed: milliseconds, peak memory, each path's figures over
`segments` (ratios from one run). Measure alone: another process on the cores changes every figure.
"""
from __future__ import annotations

import argparse
import json
import resource
import time


def measure(path: str, n: int, heads: int, head_dim: int, mem_freq: int) -> dict:
    import torch

    from longft.methods.landmark.attention import PATHS, auto_choice

    torch.manual_seed(0)
    q, k, v = (torch.randn(1, heads, n, head_dim, requires_grad=True) for _ in range(3))
    starts = torch.zeros(1, n, dtype=torch.bool)
    starts[:, 0] = True
    run = PATHS[path]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    out = run(q, k, v, starts, mem_freq, head_dim ** -0.5, {})
    out.square().sum().backward()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"path": path, "n": n, "ms": 1000 * seconds, "peak_mb": peak / 1024, "added_mb": (peak - base) / 1024,
            "auto": auto_choice(starts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--mem-freq", type=int, default=31)
    ap.add_argument("--paths", nargs="+", default=["dense", "segments", "chunked"])
    ap.add_argument("--one", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.heads, args.head_dim, args.mem_freq)))
        return

    from fresh_process import measure_in_fresh_process  # benchmarks/ is the script's folder

    shape = ["--heads", str(args.heads), "--head-dim", str(args.head_dim), "--mem-freq", str(args.mem_freq)]
    print(f"landmark attention, one document a row, {args.heads} heads x {args.head_dim}, mem_freq {args.mem_freq}: "
          "forward + backward, each in a fresh process", flush=True)
    results = {}
    for n in args.lengths:
        for path in args.paths:
            r = measure_in_fresh_process(__file__, ["--one", path, str(n), *shape], f"{path} {n}")
            if r is not None:
                results[path, n] = r
                print(f"[{path:>8} {n:>6}] {r['ms']:9.0f} ms   peak {r['peak_mb']:7.0f} MB   "
                      f"(+{r['added_mb']:.0f} MB over the loaded process)", flush=True)
    print("\nsummary (over segments, one run):")
    print(f"{'length':>7} {'path':>9} {'ms':>9} {'x time':>7} {'added MB':>9} {'x memory':>9}  auto takes")
    for n in args.lengths:
        ref = results.get(("segments", n))
        for path in args.paths:
            r = results.get((path, n))
            if r is None:
                print(f"{n:>7} {path:>9}   failed")
                continue
            xt = f"{r['ms'] / ref['ms']:.2f}" if ref else "-"
            xm = f"{r['added_mb'] / max(ref['added_mb'], 1):.2f}" if ref else "-"
            print(f"{n:>7} {path:>9} {r['ms']:9.0f} {xt:>7} {r['added_mb']:9.0f} {xm:>9}  {r['auto']}")


if __name__ == "__main__":
    main()
