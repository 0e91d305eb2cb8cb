"""FoT (Focused Transformer / LongLLaMA): the memory attention is attention/fot.py; here the
cross-batch layout of training batches (layout.py) and memory-cache inference (memory.py)."""
