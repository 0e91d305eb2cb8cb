"""Draws the default run's two report plots from the figures `make finetune` printed in the run
quoted on docs/results/default-run.md, with the report's own plotting functions (a run writes the
same two files under runs/tiny-yarn-4x/report/). Run: python docs/images/default_run.py"""
from pathlib import Path

from longft.eval.report import plot_passkey, plot_perplexity

HERE = Path(__file__).parent
DEPTHS = [0.0, 0.25, 0.5, 0.75, 1.0]
# one measured run: ppl by context length, passkey by depth at L = 256 and 4L = 1024 (10 keys a cell)
RUN = [
    {"label": "base (no scaling)", "target_tokens": 64,
     "fixed_target_ppl": {"128": 18.376, "256": 16.899, "512": 52.016, "1024": 63.483},
     "passkey": {"depths": DEPTHS, "lengths": [256, 1024], "accuracy": [[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]}},
    {"label": "tiny-yarn-4x", "target_tokens": 64,
     "fixed_target_ppl": {"128": 17.925, "256": 15.901, "512": 14.821, "1024": 14.227},
     "passkey": {"depths": DEPTHS, "lengths": [256, 1024],
                 "accuracy": [[0.8, 0.6, 1, 1, 0.9], [0.8, 0.8, 0.8, 0.7, 1]]}},
]

if __name__ == "__main__":
    plot_perplexity(RUN, 256, HERE / "default_perplexity_by_length.png")
    plot_passkey(RUN, HERE / "default_passkey_grid.png")
    print("wrote", HERE / "default_perplexity_by_length.png", "and", HERE / "default_passkey_grid.png")
