"""Landmark attention (Mohtashami & Jaggi 2023): a landmark token closes every block of `mem_freq`
tokens; in training a query's attention over earlier blocks goes through their landmarks
(grouped_softmax.py)."""
