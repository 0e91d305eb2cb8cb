"""`longft serve-check`: does a serving engine run an exported checkpoint as transformers does?

prompts.py          held-out prompts of the lengths to check, and the checks on those lengths
compare.py          prompt log-probs side by side, by length band, against a tolerance
check.py            the command: transformers on one side, an engine on the other
engines/            one module an engine: vllm.py (its worker runs in vLLM's own virtualenv), lm_eval.py
"""
