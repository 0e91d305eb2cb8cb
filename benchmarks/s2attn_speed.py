"""S²-Attn against full SDPA on the testbed-sized model: attention op and whole train step.

Prints measured times and their ratios, all taken in this one run:
    python benchmarks/s2attn_speed.py [--lengths 4096 8192] [--repeats 3]
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from timing import median_seconds  # benchmarks/ is the script's folder

from longft.methods.longlora.s2attn import make_s2_attention, register_s2_attention

ARCH = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4)


def attention_op(n: int, repeats: int) -> tuple[float, float]:
    heads, dim = ARCH["num_attention_heads"], ARCH["hidden_size"] // ARCH["num_attention_heads"]
    q, k, v = (torch.randn(1, heads, n, dim, requires_grad=True) for _ in range(3))
    s2 = make_s2_attention(0.25, None, "sdpa")

    def full():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    def shifted_sparse():
        s2(None, q, k, v, None)[0].sum().backward()

    return median_seconds(full, repeats)[0], median_seconds(shifted_sparse, repeats)[0]


def train_step(n: int, repeats: int) -> tuple[float, float]:
    out = []
    for attn in ("sdpa", register_s2_attention(0.25, None, "sdpa")):
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=2048, max_position_embeddings=n, **ARCH)
        model = LlamaForCausalLM._from_config(config, attn_implementation=attn).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        ids = torch.randint(0, 2048, (1, n))

        def step():
            model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
            opt.step()
            opt.zero_grad()

        out.append(median_seconds(step, repeats)[0])
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}, threads: {torch.get_num_threads()}, "
          f"model: {ARCH}, group_size_ratio 0.25, median of {args.repeats} (forward+backward)")
    print(f"{'tokens':>7}  {'attn full':>10}  {'attn S2':>9}  {'ratio':>6}  {'step full':>10}  {'step S2':>9}  {'ratio':>6}")
    for n in args.lengths:
        a_full, a_s2 = attention_op(n, args.repeats)
        s_full, s_s2 = train_step(n, args.repeats)
        print(f"{n:>7}  {a_full:>9.3f}s  {a_s2:>8.3f}s  {a_s2 / a_full:>6.2f}  {s_full:>9.3f}s  {s_s2:>8.3f}s  {s_s2 / s_full:>6.2f}")


if __name__ == "__main__":
    main()
