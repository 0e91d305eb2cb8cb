"""Run by tests/test_sequence_parallel.py under `torchrun --nproc_per_node 2` (CPU, gloo).

For each case, one packed batch whose documents cross the boundary between the two ranks' shards:
the loss and every parameter gradient with sequence parallelism (DeepSpeed's UlyssesSPAttentionHF
around longft's attention function, longft's per-shard loss) against the same model on the whole
batch in one process, on Llama and on two other families (Qwen3: grouped-query attention with
QK-norm; Qwen3-MoE: a mixture of experts). Prints one JSON line per case from rank 0: the largest
differences.
"""
import json
import sys

import deepspeed
import torch
import torch.distributed as dist
from deepspeed.runtime.sequence_parallel import parallel_state_sp
from deepspeed.runtime.sequence_parallel.ulysses_sp import UlyssesSPAttentionHF
from transformers import AttentionInterface, LlamaConfig, LlamaForCausalLM
from transformers.masking_utils import AttentionMaskInterface

from longft.methods.longlora import s2attn
from longft.attention.boundaries import cu_seq_lens_from_doc_lens
from longft.attention.full import make_full_attention, mask_or_none
from longft.families.family import head_dim
from longft.families.logits import output_head
from longft.train.loss import chunked_cross_entropy, shift_left
from longft.train.sequence_parallel import shard_loss
from longft.train.trainer import close_process_group

N = 32
ROWS = [[13, 19], [5, 14, 13]]  # shard boundary at 16: both rows have a document across it


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 100, (len(ROWS), N), generator=g)
    pos = torch.stack([torch.cat([torch.arange(n) for n in row]) for row in ROWS])
    labels = ids.clone()
    for r, row in enumerate(ROWS):
        start = 0
        for n in row:
            labels[r, start] = -100
            start += n
    return ids, pos, labels


def model_for(kv_heads: int, attention, seed=0, family="llama"):
    torch.manual_seed(seed)
    if family == "llama":
        cfg = LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=64)
        model = LlamaForCausalLM(cfg)
    else:
        from family_models import tiny_config
        from transformers import AutoModelForCausalLM

        cfg = tiny_config(family, layers=2, vocab_size=100, num_key_value_heads=kv_heads)
        model = AutoModelForCausalLM.from_config(cfg)
    AttentionInterface.register("sp_test_plain", attention)
    AttentionMaskInterface.register("sp_test_plain", mask_or_none)
    model.set_attn_implementation("sp_test_plain")
    return model


def grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def run_case(name, attention, kv_heads, drop_boundaries=False, family="llama"):
    rank, world = dist.get_rank(), dist.get_world_size()
    ids, pos, labels = batch()
    cu = cu_seq_lens_from_doc_lens(ROWS)
    model = model_for(kv_heads, attention, family=family)
    head = output_head(model)
    out = model(input_ids=ids, position_ids=pos, cu_seq_lens_q=cu, cu_seq_lens_k=cu, output_hidden_states=True, logits_to_keep=1)
    whole_loss = chunked_cross_entropy(out.hidden_states[-1], labels, head, 16)
    whole_loss.backward()
    whole = grads(model)

    model = model_for(kv_heads, attention, family=family)
    head = output_head(model)
    cfg = model.config
    ulysses = UlyssesSPAttentionHF(
        attn=attention, batch_size=len(ROWS), attn_head_count=cfg.num_attention_heads,
        attn_head_size=head_dim(cfg), kv_head_count=cfg.num_key_value_heads,
        num_hidden_layers=cfg.num_hidden_layers, process_group=parallel_state_sp.get_sequence_parallel_group(),
        seq_length_is_variable=True,
    )
    AttentionInterface.register("sp_test_ulysses", lambda m, q, k, v, mask, *a, **kw: ulysses(m, q, k, v, None, *a, **kw))
    AttentionMaskInterface.register("sp_test_ulysses", mask_or_none)
    model.set_attn_implementation("sp_test_ulysses")
    shard = slice(rank * N // world, (rank + 1) * N // world)
    bounds = None if drop_boundaries else cu.tolist()
    out = model(input_ids=ids[:, shard], position_ids=pos[:, shard], cu_seq_lens_q=bounds, cu_seq_lens_k=bounds,
                output_hidden_states=True, logits_to_keep=1)
    loss = shard_loss(out.hidden_states[-1], shift_left(labels)[:, shard], head, 16, parallel_state_sp.get_sequence_parallel_group())
    loss.backward()
    mine = grads(model)
    for g in mine.values():  # the data-parallel-style sum over the group (DeepSpeed's reduction, dp = 1)
        dist.all_reduce(g)
    result = {
        "case": name,
        "loss_diff": abs(loss.item() - whole_loss.item()),
        "grad_diff": max((mine[n] - whole[n]).abs().max().item() for n in whole),
        "grad_scale": max(g.abs().max().item() for g in whole.values()),
    }
    if rank == 0:
        print(json.dumps(result), flush=True)


def main():
    deepspeed.init_distributed(dist_backend="gloo")
    parallel_state_sp.initialize_sequence_parallel(dist.get_world_size())
    s2 = s2attn.make_s2_attention(group_size=8, path="sdpa")
    full = make_full_attention("segments", log=lambda *a, **k: None)
    dense = make_full_attention("dense", log=lambda *a, **k: None)
    run_case("full-segments", full, kv_heads=2)
    run_case("full-dense", dense, kv_heads=2)
    run_case("full-kv-replicated", full, kv_heads=1)
    run_case("s2", s2, kv_heads=2)
    run_case("s2-kv-replicated", s2, kv_heads=1)
    for family in ("qwen3", "qwen3_moe"):
        run_case(f"{family}-full", full, kv_heads=2, family=family)
        run_case(f"{family}-s2", s2, kv_heads=2, family=family)
    # controls: the comparison notices a wrong layout
    run_case("control-no-boundaries", full, kv_heads=2, drop_boundaries=True)
    s2attn.global_head_offset = lambda module, local: (0, local)  # each rank splits its own heads in two
    run_case("control-s2-local-heads", s2, kv_heads=2)
    close_process_group()


if __name__ == "__main__":
    sys.exit(main())
