PYTHON ?= python

.PHONY: install test bench bench-quick generate check-generated demo gpu-check

# Dependencies first (torch 2.13.0 is on this machine's disk; never pull a CUDA build), then
# sigcg itself in editable mode so that codegen/ and templates/ map into the sigcg namespace.
install:
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install numpy setuptools wheel cffi jinja2 tqdm pytest pytest-xdist build
	$(PYTHON) -m pip install --no-build-isolation iisignature
	# CuPy's NVRTC bindings + NVRTC itself: CUDA kernels compile (and are checked) without a GPU
	$(PYTHON) -m pip install cupy-cuda13x nvidia-cuda-nvrtc
	$(PYTHON) -m pip install --no-build-isolation --no-deps -e .

test:
	$(PYTHON) -m pytest tests -q -n 2 -m "not gpu"

demo:
	$(PYTHON) -m sigcg demo

bench:
	$(PYTHON) benchmarks/bench_signature.py

# On a machine with a GPU: GPU tests + GPU benchmark in one call, short table last.
gpu-check:
	$(PYTHON) benchmarks/gpu_check.py

bench-quick:
	$(PYTHON) benchmarks/bench_signature.py --quick

generate:
	rm -f generated/*.c generated/*.cu
	$(PYTHON) -m sigcg.codegen generate generated >/dev/null

# Fails when the checked-in kernels differ from what the templates render now.
check-generated: generate
	git diff --exit-code --stat -- generated
	test -z "$$(git status --porcelain -- generated)"
