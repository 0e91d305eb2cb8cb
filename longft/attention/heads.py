"""Which of the model's heads an attention call holds.

Under sequence parallelism (DeepSpeed Ulysses) the all-to-all gives each rank the whole sequence
for a contiguous block of heads: rank r of P holds heads [r * H / P, (r + 1) * H / P). A method
whose rule depends on the head (S²-Attn shifts the second half of the heads) must apply it to
the global index, or each rank would split its own block in two.
"""
from __future__ import annotations


def total_heads(module) -> int | None:
    config = getattr(module, "config", None)
    return getattr(config, "num_attention_heads", None) if config is not None else None


def global_head_offset(module, local_heads: int) -> tuple[int, int]:
    """(global index of the first head held, the model's head count)."""
    total = total_heads(module) or local_heads
    if local_heads == total:
        return 0, total
    from deepspeed.runtime.sequence_parallel import parallel_state_sp

    try:
        rank, size = parallel_state_sp.get_sequence_parallel_rank(), parallel_state_sp.get_sequence_parallel_world_size()
    except (AssertionError, AttributeError, TypeError) as err:
        raise RuntimeError(f"attention got {local_heads} of {total} heads but no sequence-parallel group is set up") from err
    if local_heads * size != total:
        raise RuntimeError(f"attention got {local_heads} of {total} heads under a sequence-parallel degree of {size}")
    return rank * local_heads, total
