"""Data mixes: named definitions in the top-level data/ folder that say which sources a run
trains on and in what shares (definition.py), how documents are drawn to meet those shares
(sampling.py), and what came out, by source and by length (report.py, build.py)."""
