"""`longft plan`: per-GPU memory of a recipe's training step, and the smallest SP degree / ZeRO stage that fits."""
