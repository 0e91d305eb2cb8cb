"""The trainer wrapper over transformers' Trainer and its callbacks."""
