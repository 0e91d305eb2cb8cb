"""Write checkpoints that plain transformers and serving engines read right.

checkpoint.py     the write itself: adapters merged, a staging folder and a rename
reader_config.py  the config and tokenizer fields every reader looks for (rope in both forms, lengths)
"""
from .checkpoint import (
    TRAINING_ONLY_ATTENTION_PREFIX,
    export_checkpoint,
    merge_adapters,
    merge_gathered_adapters,
    save_initial,
)
from .reader_config import EXPORT_NOTES_FILE, serving_length

__all__ = [
    "EXPORT_NOTES_FILE",
    "TRAINING_ONLY_ATTENTION_PREFIX",
    "export_checkpoint",
    "merge_adapters",
    "merge_gathered_adapters",
    "save_initial",
    "serving_length",
]
