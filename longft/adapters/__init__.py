"""Adapters on a loaded model: LoRA / QLoRA setup (lora.py); merging them is export.py's."""
