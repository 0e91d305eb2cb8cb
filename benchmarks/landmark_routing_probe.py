"""Does a landmark checkpoint route the answer's query to the needle's block? On code-form passkey
prompts, the training-time forward (grouped softmax over the whole prompt with its landmarks) is run
once a prompt, and each layer's and head's weight from the last query (the one whose output predicts
the key) on the blocks that hold the needle's tokens is recorded (one block, or two where the needle
line straddles a boundary).

    python benchmarks/landmark_routing_probe.py CHECKPOINT [--length 256] [--prompts 12]

Prints the mean weight on the needle's block per layer and head, the best head, and what a query
spreading its weight evenly over the blocks it sees would put on those blocks. Retrieval through the cache
needs that weight to be high in some head: the landmark scores pick the blocks.
"""
from __future__ import annotations

import random

import torch

from landmark_probe_inputs import probe_inputs  # benchmarks/ is the script's folder


def needle_text_index(prompt: list[int], needle: list[int]) -> int:
    """Index in the prompt of the needle's first token."""
    for i in range(len(prompt) - len(needle) + 1):
        if prompt[i : i + len(needle)] == needle:
            return i
    raise ValueError("the needle is not in the prompt as tokenized alone")


def main() -> None:
    from transformers import AttentionInterface

    from longft.attention.boundaries import cu_seq_lens, row_starts
    from longft.attention.segments import repeat_kv
    from longft.eval.passkey import _ids, code_prompt
    from longft.methods.landmark.attention import NAME, landmark_places
    from longft.methods.landmark.grouped_softmax import grouped_softmax_weights
    from longft.methods.landmark.tokens import insert_landmarks
    from longft.synthetic.passkey_text import CODE_NEEDLE

    args, tokenizer, cached, filler = probe_inputs(__doc__, default_prompts=12)
    model, landmark, mem_freq = cached.model, cached.landmark, cached.mem_freq

    probe: dict = {}

    def recording(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        # the grouped softmax on a single document row, as the dense training path computes it
        B, H, n, d = query.shape
        starts = row_starts(cu_seq_lens(kwargs), B, n, query.device)
        is_landmark, block = landmark_places(starts, mem_freq)
        causal = torch.ones(n, n, dtype=torch.bool, device=query.device).tril()[None, None]
        k, v = repeat_kv(key, H), repeat_kv(value, H)
        scores = torch.matmul(query, k.transpose(-1, -2)) * (scaling if scaling is not None else d ** -0.5)
        weights = grouped_softmax_weights(scores, causal, block, is_landmark)
        in_blocks = torch.isin(block[0], probe["blocks"]).to(weights.dtype)
        probe["weights"][module.layer_idx] = (weights[0, :, -1, :] * in_blocks).sum(-1)
        probe["blocks_seen"] = int(block[0, -1]) + 1
        return torch.matmul(weights.to(v.dtype), v).transpose(1, 2).contiguous(), None

    AttentionInterface.register(NAME, recording)  # this process only: the probe reads the weights
    rng = random.Random(0)
    rows, uniform = [], []
    with torch.no_grad():
        for _ in range(args.prompts):
            key = rng.randint(10000, 99999)
            prompt = code_prompt(tokenizer, filler, args.length, rng.choice([0, 0.25, 0.5, 0.75]), key, rng)
            needle = _ids(tokenizer, CODE_NEEDLE.format(key=key))
            at = needle_text_index(prompt, needle)
            ids, _, _, _ = insert_landmarks(prompt, [len(prompt)], [0], mem_freq, landmark)
            # a text token at index t sits at t + t // mem_freq with its landmarks, in block t // mem_freq
            blocks = sorted({t // mem_freq for t in range(at, at + len(needle))})
            probe.update(blocks=torch.tensor(blocks), weights={})
            model(input_ids=torch.tensor([ids]))
            rows.append(torch.stack([probe["weights"][i] for i in sorted(probe["weights"])]))
            uniform.append(len(blocks) / probe["blocks_seen"])
    mean = torch.stack(rows).mean(0)  # (layers, heads)
    for layer, heads in enumerate(mean.tolist()):
        print(f"layer {layer}: " + "  ".join(f"head {h} {w:.3f}" for h, w in enumerate(heads)))
    best = int(mean.argmax())
    layer, head = divmod(best, mean.shape[1])
    print(f"\n{args.prompts} prompts at {args.length}: best head's mean weight on the needle's block "
          f"{mean.max():.3f} (layer {layer}, head {head}); spread evenly over the blocks seen: "
          f"{sum(uniform) / len(uniform):.3f}")


if __name__ == "__main__":
    main()
