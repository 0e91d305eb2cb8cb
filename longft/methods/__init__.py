"""What each recipe family adds to a loaded model (attention swaps, adapters)."""
