"""Measuring runs: sample-quality metrics and discriminator diagnostics for 2D data
(``toy_metrics.py``, recorded at every snapshot by ``measure.py``), image metrics (a small
classifier, Fréchet distances, FID where available), D's landscape, and the one table system
(``tables.py``) that ``compare`` and ``sweep`` both summarise with.
"""
