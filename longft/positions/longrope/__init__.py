"""LongRoPE (Ding et al. 2024): evolutionary search of per-dimension RoPE rescale factors.

candidates.py  the search space: factors, n̂, mutation, crossover, seeds from PI / NTK / YaRN
fitness.py     perplexity of many candidates on one loaded model, batched, through rotary outputs
search.py      the evolutionary loop: resumable state, cache, progress, history
report.py      atomic JSON files and the plot of perplexity by generation
"""
