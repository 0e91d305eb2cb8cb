"""What attention methods share: document boundaries (boundaries.py), segments and masks
(segments.py, masked.py), rope angles (rope_angles.py), head bookkeeping under sequence parallel
(heads.py), full attention with its kernel paths (full.py), a model read as a stream (streamed.py)
and the shape of a registry entry (method.py). The methods themselves live in methods/<name>/."""
