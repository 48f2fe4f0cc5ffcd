"""Run folders: their layout, atomic file writes, checkpoints, ``status.json`` and locks, the one
lifecycle guard (``guard.RunGuard``) and the one writer of snapshot and frame arrays.

This room writes and reads files; it draws no pictures and runs no model. The engine
(``mixgan/training``) decides what to save, and ``mixgan/viz`` draws from what is saved.
"""
