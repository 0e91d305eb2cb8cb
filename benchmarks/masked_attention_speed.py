"""The masked attention (log-n, hybrid's full layers) where the pairs are only causal: a written-out
(N x N) mask with the KV heads repeated, against no mask (SDPA's causal rule and its GQA).

One row, SmolLM2-135M's attention shape by default (9 query heads, 3 KV heads, head size 64),
log-n's scaling past 8,192 tokens, as in evaluation and prefill. Prints the median time of each,
their ratio, and the largest difference between their outputs, all measured in this one run:
    python benchmarks/masked_attention_speed.py [--lengths 4096 8192 16384] [--repeats 3]
With --model_length N, also the whole SmolLM2-135M (`smollm2-135m`, built on first use) with log-n
at N tokens, through each path: the prefill, and the median of --decode_steps decoding steps with
N tokens cached, and whether both give the same logits and greedy tokens.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from timing import median_seconds  # benchmarks/ is the script's folder

from longft.attention.masked import allowed_pairs, attend, logn_factor, mask_unless_causal, no_mask, query_positions


def masked_logn(base: int):
    """log-n over a written-out mask whatever the batch: the path before `mask_unless_causal`."""
    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        B, _, q_len, _ = query.shape
        kv_len = key.shape[2]
        scale = logn_factor(query_positions(kwargs, B, q_len, kv_len, query.device), base)
        return attend(query, key, value, allowed_pairs(B, q_len, kv_len, query.device, kwargs), scaling, scale), None

    return attention


def whole_model(n: int, base: int, decode_steps: int) -> None:
    from transformers import AttentionInterface, AutoModelForCausalLM
    from transformers.masking_utils import AttentionMaskInterface

    from longft.methods.logn.attention import register
    from longft.pretrained.smollm2 import build

    folder = build()
    causal = register({"base": base})
    AttentionInterface.register("logn_masked", masked_logn(base))
    AttentionMaskInterface.register("logn_masked", no_mask)
    ids = torch.randint(0, 49152, (1, n), generator=torch.Generator().manual_seed(0))
    print(f"\nSmolLM2-135M, fp32, log-n base {base}, {n} tokens: prefill, then {decode_steps} greedy steps", flush=True)
    print(f"{'path':>7}  {'prefill':>9}  {'decode step':>11}", flush=True)
    results = {}
    for label, impl in (("mask", "logn_masked"), ("causal", causal)):
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=impl, dtype=torch.float32).eval()
        with torch.no_grad():
            start = time.perf_counter()
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            prefill = time.perf_counter() - start
            cache, logits, tokens, steps = out.past_key_values, [out.logits[0, -1]], [], []
            for _ in range(decode_steps):
                tokens.append(logits[-1].argmax().view(1, 1))
                start = time.perf_counter()
                out = model(input_ids=tokens[-1], past_key_values=cache, use_cache=True)
                steps.append(time.perf_counter() - start)
                logits.append(out.logits[0, -1])
        results[label] = (torch.stack(logits), torch.cat(tokens))
        print(f"{label:>7}  {prefill:>8.1f}s  {1000 * statistics.median(steps):>9.0f}ms", flush=True)
        del model, cache, out
    diff = (results["mask"][0] - results["causal"][0]).abs().max().item()
    same = torch.equal(results["mask"][1], results["causal"][1])
    print(f"max |logit diff| {diff:.2e}; same greedy tokens: {same}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--kv_heads", type=int, default=3)
    parser.add_argument("--head_dim", type=int, default=64)
    parser.add_argument("--logn_base", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--model_length", type=int, default=None)
    parser.add_argument("--decode_steps", type=int, default=10)
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
            t_mask, out_mask = median_seconds(written, args.repeats)
            t_causal, out_causal = median_seconds(causal, args.repeats)
        diff = (out_mask.float() - out_causal.float()).abs().max().item()
        print(f"{n:>7}  {t_mask:>8.3f}s  {t_causal:>8.3f}s  {t_causal / t_mask:>6.2f}  {diff:>10.2e}", flush=True)
    if args.model_length:
        whole_model(args.model_length, args.logn_base, args.decode_steps)


if __name__ == "__main__":
    main()
