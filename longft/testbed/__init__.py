"""The CPU testbed: a corpus every machine with Python has, a BPE tokenizer and a tiny Llama base."""
