PYTHON ?= python

.PHONY: install test test-exhaustive lint format bench bench-quick bench-first-call generate \
        check-generated demo gpu-check

# Dependencies first (torch 2.13.0 is on this machine's disk; never pull a CUDA build), then
# sigcg itself in editable mode so that codegen/ and templates/ map into the sigcg namespace.
install:
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install numpy setuptools wheel cffi jinja2 tqdm build \
	    pytest pytest-xdist pytest-timeout hypothesis ruff==0.17.6 mypy
	$(PYTHON) -m pip install --no-build-isolation iisignature
	# pySigLib: a test and benchmark peer (never a dependency of sigcg)
	$(PYTHON) -m pip install pysiglib
	# CuPy's NVRTC bindings + NVRTC itself: CUDA kernels compile (and are checked) without a GPU
	$(PYTHON) -m pip install cupy-cuda13x nvidia-cuda-nvrtc
	$(PYTHON) -m pip install --no-build-isolation --no-deps -e .

# The option grids of the conformance suite are sampled here; test-exhaustive runs them whole.
test:
	$(PYTHON) -m pytest tests -q -n 2 -m "not gpu"

test-exhaustive:
	SIGCG_EXHAUSTIVE=1 $(PYTHON) -m pytest tests/test_conformance.py -q -n 2

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

format:
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

demo:
	$(PYTHON) -m sigcg demo

bench:
	$(PYTHON) benchmarks/bench_signature.py

bench-quick:
	$(PYTHON) benchmarks/bench_signature.py --quick

bench-first-call:
	$(PYTHON) benchmarks/bench_first_call.py

# On a machine with a GPU: tests, compute-sanitizer and timings in one call, results file last.
gpu-check:
	$(PYTHON) benchmarks/gpu_check.py

generate:
	rm -f generated/*.c generated/*.cu
	$(PYTHON) -m sigcg.codegen generate generated >/dev/null

# Fails when the checked-in kernels differ from what the templates render now.
check-generated: generate
	git diff --exit-code --stat -- generated
	test -z "$$(git status --porcelain -- generated)"
