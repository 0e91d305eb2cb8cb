"""Synthetic retrieval text: needle values, and the drills mixed into the testbed base's pretraining."""
