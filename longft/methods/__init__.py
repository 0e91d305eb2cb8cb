"""One folder per method family, as peft keeps one per tuner: each holds its attention function,
position pieces, batch layout, inference cache and its registry entries.

longlora/  S²-Attn (with LoRA+ from adapters/)     logn/    log-n attention scaling
longrope/  LongRoPE's factor search (kind: search)  window/  window and hybrid attention
fot/       FoT memory attention, layout, cache

registry.py lists the attention methods by name. The rope types themselves (linear, dynamic,
yarn, llama3, rope_theta, longrope) are transformers' own, chosen in positions/methods/.
"""
