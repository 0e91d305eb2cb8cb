"""Position methods: RoPE scaling through transformers' rope_parameters, and position-id schemes."""
