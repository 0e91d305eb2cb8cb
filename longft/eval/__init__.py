"""Evaluation: perplexity by context length, passkey retrieval grids, reports with plots."""
