# pit_eval — two commands: `make demo` and `make test` (each sets up .venv on first use).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean-venv

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) run_eval.py robustness --model pit_s

test: setup
	@bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) scripts/bench_corruptions.py
	$(PY) scripts/bench_eval.py

clean-venv:
	rm -rf $(VENV)
