# Set-up and everyday commands. `make demo` runs the main job, `make test` the tests;
# both create .venv and install mixgan with its dependencies first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision as pyproject.toml pins them: the same pair serves CPU-only machines and
# CUDA GPUs. Another build (CPU-only wheels, another CUDA): install it into .venv first and run
# `make TORCH= ...` so that it is kept (README.md, "Set-up").
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test test-ray bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(if $(TORCH),$(BIN)/python -m pip install --quiet $(TORCH))
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: install
	$(BIN)/mixgan figure5 --quick auto

test: install
	$(BIN)/python -m pytest tests

# The tests of `mixgan sweep --executor ray` on a local Ray, slow ones included; Ray is installed
# into the environment first (the default suite skips them where Ray is missing).
test-ray: install
	$(BIN)/python -m pip install --quiet -e ".[ray]"
	$(BIN)/python -m pytest tests/test_ray_sweep.py --slow

bench: install
	$(BIN)/python scripts/bench_train.py

clean:
	rm -rf $(VENV) build *.egg-info
