PYTHON ?= python

.PHONY: install test test-exhaustive lint format bench bench-quick bench-first-call generate \
        check-generated demo gpu-check gpu-wheels docs bench-dask \
        bench-install

# Works the same in a fresh venv and in the base interpreter (PYTHON=path/to/python picks one).
# torch first and pinned (2.13.0 is on this machine's disk; never pull a CUDA build); then the
# build requirements of iisignature (built against this numpy) and of sigcg; then sigcg itself,
# editable (codegen/ and templates/ map into the sigcg namespace), with a developer's extras:
# test (pytest, zig cc, dask), bench (pySigLib, matplotlib), docs, lint, cuda (CuPy's NVRTC
# bindings + NVRTC: CUDA kernels compile and are checked without a GPU).
install:
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install numpy "setuptools>=77" wheel
	$(PYTHON) -m pip install --no-build-isolation iisignature
	$(PYTHON) -m pip install --no-build-isolation -e ".[test,bench,docs,lint,cuda]"

# The option grids of the conformance suite are sampled here; test-exhaustive runs them whole.
test:
	$(PYTHON) -m pytest tests -q -n 2 -m "not gpu"

test-exhaustive:
	SIGCG_EXHAUSTIVE=1 $(PYTHON) -m pytest tests/test_conformance.py tests/test_sigkernel.py -q -n 2

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

format:
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

demo:
	$(PYTHON) -m sigcg demo

# Tables and PNG plots (time against channels and depth, speed-up over each peer) go to
# docs/benchmarks/, where the documentation's performance page shows them.
bench:
	$(PYTHON) benchmarks/bench_signature.py --out docs/benchmarks

# sigcg.dask on a 2-worker LocalCluster against 1 worker; docs/benchmarks/dask.md
bench-dask:
	$(PYTHON) benchmarks/bench_dask.py --out docs/benchmarks

# From nothing to a first signature: wheel -> fresh venvs -> first call, with and without a compiler
bench-install:
	$(PYTHON) benchmarks/bench_install.py

# The documentation site: warnings are errors (its examples are doctested by make test).
docs:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --site-dir build/site

bench-quick:
	$(PYTHON) benchmarks/bench_signature.py --quick

bench-first-call:
	$(PYTHON) benchmarks/bench_first_call.py

# On a machine with a GPU: tests, compute-sanitizer and timings in one call, results file last.
gpu-check:
	$(PYTHON) benchmarks/gpu_check.py

# The wheels a GPU machine without network lacks (its image has torch, CuPy, NVRTC, jinja2 and
# pytest but not cffi): downloaded here into .whl/ (git-ignored), carried with the call, installed
# there with `pip install --no-index --target`; see benchmarks/gpu_check.py.
GPU_PYTHON_VERSION ?= 3.12
gpu-wheels:
	rm -rf .whl
	$(PYTHON) -m pip download --no-deps --only-binary=:all: --python-version $(GPU_PYTHON_VERSION) \
	    --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	    -d .whl cffi==2.0.0 pycparser==2.23

generate:
	rm -f generated/*.c generated/*.cu
	$(PYTHON) -m sigcg.codegen generate generated >/dev/null

# Fails when the checked-in kernels differ from what the templates render now.
check-generated: generate
	git diff --exit-code --stat -- generated
	test -z "$$(git status --porcelain -- generated)"
