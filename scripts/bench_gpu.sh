#!/bin/sh
# The GPU benchmark of docs/BENCHMARKS.md: no arguments, one CUDA GPU, under 8 minutes.
# Prints its figures and writes them, with the device's name, to outputs/bench-gpu-<time>.json
# (what each figure is: scripts/bench_gpu.py). PYTHON=... picks the interpreter (default: .venv's).
set -e
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
# The hard stop keeps the promise of 8 minutes even if the GPU is far slower than expected.
exec timeout 470 env PYTHONPATH=. "$PY" scripts/bench_gpu.py
