"""FoT (Focused Transformer / LongLLaMA, Tworkowski et al. 2023), all in this folder:

attention.py  the memory attention function, its settings and checks against the model and batch
layout.py     the cross-batch layout of training batches (which earlier rows each row sees)
memory.py     memory-cache inference: the finished windows' keys and values, read as a stream

`attention.method: fot` -> ATTENTION below, listed in methods/registry.py.
"""
from __future__ import annotations

from ...attention import full
from ...attention.method import AttentionMethod
from . import attention, layout, memory

ATTENTION = AttentionMethod(
    validate=attention.validate, preflight=lambda a: full.check_path(a.path),
    register=lambda a, w: attention.register(attention.settings(a, w), a.path),
    settings=attention.settings, restore=attention.register,
    rows=lambda a, seq_len, tokenizer: layout.cross_batch_rows(a), check_stage=attention.check_stage, inference_model=memory.memory_model,
    position_span=attention.position_span, smoke_params=attention.smoke_params, refusal=attention.refusal,
    engine_note=lambda saved: (
        "FoT memory: plain engines run the model as ordinary attention over one context; the memory layers' "
        "retrieval from the cache of earlier windows (longft eval's memory cache) is lost, so it reads at most "
        "its window well"
    ),
)
