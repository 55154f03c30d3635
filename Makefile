# Two entry points: `make demo` (the main job on the offline default) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch==2.13.0 is the CPU wheel on CPU-only machines here and the CUDA build elsewhere.
TORCH ?= torch==2.13.0

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

.PHONY: install demo test lint bench
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/prm quickstart

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest -q -m "not slow"

bench: $(VENV)/.installed
	$(PY) bench/verifier.py
