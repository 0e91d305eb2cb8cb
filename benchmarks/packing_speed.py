"""Packing speed: longft's packer against TRL's `pack_dataset(strategy="bfd")` on the same input,
measured in one run.

    python benchmarks/packing_speed.py [--tokens 40000000] [--seq-lens 8192 131072]

The input is `--tokens` random token ids in documents of log-normal lengths (median ~670, mean
~1400 tokens), built once as an Arrow table. Both packers truncate documents longer than the pack
(TRL's bfd does; longft runs with split_policy=truncate to match). Printed per pack length: seconds,
packs, fill rate, and longft / TRL as a ratio of wall-clock times (below 1: longft is faster).
"""
from __future__ import annotations

import argparse
import time

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def lognormal_corpus(total_tokens: int, seed: int = 0) -> datasets.Dataset:
    rng = np.random.default_rng(seed)
    lengths = []
    while sum(lengths) < total_tokens:
        lengths.extend(np.maximum(1, rng.lognormal(6.5, 1.2, 10_000).astype(np.int64)).tolist())
    lengths = np.array(lengths, dtype=np.int64)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), total_tokens) + 1]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = pa.array(rng.integers(3, 32000, int(offsets[-1]), dtype=np.int32))
    table = pa.table({"input_ids": pa.LargeListArray.from_arrays(pa.array(offsets), values),
                      "length": pa.array(lengths)})
    return datasets.Dataset(table)


def main() -> None:
    from trl import pack_dataset

    from longft.data.packing import pack_tokenized

    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=40_000_000)
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[8192, 131072])
    args = parser.parse_args()
    corpus = lognormal_corpus(args.tokens)
    total = sum(corpus["length"])
    print(f"{len(corpus)} documents, {total:,} tokens (log-normal lengths, median "
          f"{int(np.median(corpus['length']))}, mean {total / len(corpus):.0f})", flush=True)
    rows = []
    for seq_len in args.seq_lens:
        t0 = time.perf_counter()
        packed, stats = pack_tokenized(corpus, seq_len, policy="truncate", min_tokens=1, max_tokens=None, seed=0)
        longft_s = time.perf_counter() - t0
        assert stats.conserved()
        ids_only = corpus.select_columns(["input_ids"])
        t0 = time.perf_counter()
        trl = pack_dataset(ids_only, seq_len, strategy="bfd")
        trl_s = time.perf_counter() - t0
        trl_tokens = sum(pc.sum(pc.list_value_length(c)).as_py() for c in trl.data.column("input_ids").chunks)
        trl_fill = trl_tokens / (len(trl) * seq_len)
        rows.append((seq_len, longft_s, len(packed), stats.fill_rate, trl_s, len(trl), trl_fill))
    print(f"\n{'pack':>8}  {'longft s':>9}  {'packs':>6}  {'fill':>7}  {'TRL bfd s':>9}  {'packs':>6}  {'fill':>7}  ratio")
    for seq_len, ls, lp, lf, ts, tp, tf in rows:
        print(f"{seq_len:>8}  {ls:>9.2f}  {lp:>6}  {lf:>7.2%}  {ts:>9.2f}  {tp:>6}  {tf:>7.2%}  {ls / ts:.2f}")


if __name__ == "__main__":
    main()
