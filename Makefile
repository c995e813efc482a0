# pit_eval — two commands: `make demo` and `make test` (each sets up .venv on first use).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench paper-demo clean-venv

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
	$(PY) scripts/bench_bgc.py

clean-venv:
	rm -rf $(VENV)

paper-demo: setup
	$(PY) run_eval.py paper --models pit_s,deit_small,resnet50.tv_in1k --tables robustness,robustness_extended --corruptions common --severities 3 --out results/paper-sample
