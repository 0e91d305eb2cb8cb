"""Training-time attention registered with transformers' AttentionInterface (S²-Attn)."""
