"""longft: long-context fine-tuning recipes for Hugging Face causal LMs."""

__version__ = "0.1.0"
