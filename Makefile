# pit_eval — two commands: `make demo` (core install) and `make test` (core + detection; each sets up .venv on first use).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

GPU_PYTHON ?= python3
GPU_PYTHON_VERSION ?= 3.12
GPU_WHEELS ?= gpu-wheels

.PHONY: setup detection-setup demo test test-quick core-test bench paper-demo clean-venv gpu-check gpu-wheels

# the core install: robustness, paper robustness tables, API, reports; nothing compiled
setup:
	@bash scripts/setup.sh

# the core plus mmdet, mmengine, pycocotools and mmcv 2.1.0 with ops (built once, ~10 min on 2 cores)
detection-setup:
	@bash scripts/setup.sh --detection

demo: setup
	$(PY) run_eval.py robustness --model pit_s

test: detection-setup
	@bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

# while developing: everything but the whole runs through the CLI, subprocesses and installs (marked e2e)
test-quick: detection-setup
	@bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

# the core install on its own (.venv-core: no mmcv, mmdet, mmengine or pycocotools) passes the tests
# marked core (pytestmark = pytest.mark.core: robustness, paper, API, data, corruptions, ...)
CORE_VENV ?= .venv-core
core-test:
	@VENV=$(CORE_VENV) bash scripts/setup.sh
	$(CORE_VENV)/bin/python -c "import importlib.util as u, sys; m = [n for n in ('mmcv', 'mmdet', 'mmengine', 'pycocotools') if u.find_spec(n)]; print('core install; detection packages importable:', m or 'none'); sys.exit(bool(m))"
	$(CORE_VENV)/bin/python -m pytest -q -m core $(PYTEST_ARGS)

bench: setup
	$(PY) scripts/bench_corruptions.py
	$(PY) scripts/bench_eval.py
	$(PY) scripts/bench_bgc.py

clean-venv:
	rm -rf $(VENV)

paper-demo: setup
	$(PY) run_eval.py paper --models pit_s,deit_small,resnet50.tv_in1k --tables robustness,robustness_extended --corruptions common --severities 3 --out results/paper-sample

# On the GPU node (air-gapped is fine): its own Python with CUDA torch, plus the wheels of gpu-wheels.
gpu-check:
	$(GPU_PYTHON) scripts/gpu_check.py $(if $(wildcard $(GPU_WHEELS)/*.whl),--wheels $(GPU_WHEELS)) --out results/gpu-check

# On a connected machine: the pure-Python wheels gpu-check needs, for the node's Python version.
gpu-wheels:
	python3 -m pip download --no-deps --only-binary=:all: --python-version $(GPU_PYTHON_VERSION) \
		-d $(GPU_WHEELS) $$(python3 scripts/gpu_check.py --print-wheels)
