# Set-up on a fresh machine is part of each target: `make finetune` and `make test` install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RECIPE ?= tiny-yarn-4x
ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: install finetune test smoke docs benchmark clean

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
