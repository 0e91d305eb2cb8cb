"""LongRoPE (Ding et al. 2024): evolutionary search of per-dimension RoPE rescale factors.

candidates.py  the search space: factors, n̂, mutation, crossover, seeds from PI / NTK / YaRN
fitness.py     perplexity of many candidates on one loaded model, batched, through rotary outputs
search.py      the evolutionary loop: resumable state, cache, progress, history
report.py      the plot of perplexity by generation
stage.py       `kind: search`: one search for one length, written into the checkpoint

The factors it finds are applied as transformers' `longrope` rope type, which `position.method:
longrope` (positions/methods/longrope.py, beside the other rope types the model loader reads)
also builds from factors given in a recipe.
"""
