"""One call on a machine with a GPU: the GPU tests, then the GPU benchmark, short table last.

    python benchmarks/gpu_check.py        (make gpu-check)

Times sigcg, pySigLib (if built with CUDA) and Signatory on the same CUDA tensors, forward and
forward+backward through autograd, medians over CUDA-synchronised runs, plus sigcg's achieved
GFLOP/s against the device's measured matmul peak for the dtype.  For small batches it also
times one whole-path kernel call, which shows what cutting paths into pieces (sigcg/chunking.py)
buys; then log-signatures (CUDA product/log kernels) against Signatory.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

import torch

import sigcg
from sigcg.codegen import KernelSpec, op_counts
from sigcg import chunking
from sigcg.ops import signature_forward_impl

GRID = [(128, 256, 4, 6, "float64"), (32, 128, 8, 5, "float32"), (32, 128, 4, 6, "float64"),
        (256, 1000, 4, 3, "float32"), (1024, 64, 2, 8, "float64"), (128, 100, 3, 4, "float32"),
        (1, 10, 2, 3, "float64"), (256, 10000, 4, 3, "float32"), (4, 4096, 3, 6, "float32")]
LOGSIG_GRID = [(32, 128, 4, 6, "float64"), (32, 128, 8, 4, "float32"), (128, 256, 3, 5, "float64")]


def cuda_median(fn, reps: int = 10) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_peak(dtype) -> float:
    a = torch.randn(8192, 8192, dtype=dtype, device="cuda")
    t = cuda_median(lambda: a @ a, reps=5)
    return 2 * 8192**3 / t / 1e9


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA device; nothing to do here")
        return 1
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/test_gpu.py"])
    peers = {}
    try:
        import pysiglib
        if getattr(pysiglib, "BUILT_WITH_CUDA", False):
            peers["pysiglib"] = (lambda p, n: pysiglib.sig(p, n),
                                 lambda p, n, c: pysiglib.sig_backprop(p, pysiglib.sig(p, n), c, n))
    except ImportError:
        pass
    try:
        import signatory

        def signatory_both(p, n, c):
            x = p.clone().requires_grad_()
            torch.autograd.grad(signatory.signature(x, n), x, c)
        peers["signatory"] = (lambda p, n: signatory.signature(p, n), signatory_both)
    except ImportError:
        signatory = None
    peak = {dt: matmul_peak(getattr(torch, dt)) for dt in ("float32", "float64")}
    rows = []
    for B, L, d, N, dtype in GRID:
        path = (torch.randn(B, L, d, dtype=getattr(torch, dtype), device="cuda") / L**0.5).cumsum(1)
        xg = path.clone().requires_grad_()
        cot = torch.randn_like(sigcg.signature(path, N))
        fwd = cuda_median(lambda: sigcg.signature(path, N))
        both = cuda_median(lambda: torch.autograd.grad(sigcg.signature(xg, N), xg, cot))
        whole = cuda_median(lambda: signature_forward_impl(path, None, N, False))
        pieces = chunking.piece_count(B, L - 1, d, N, chunking.parallel_width(path))
        flops = 2 * op_counts(KernelSpec("signature_forward", d, N, dtype))["fma"] * B * (L - 1)
        cells = [f"{(B, L, d, N, dtype)}", f"{fwd * 1e3:.3f} / {both * 1e3:.3f}",
                 f"{whole * 1e3:.3f} ({pieces} pieces: {whole / fwd:.1f}x)",
                 f"{flops / fwd / 1e9:.0f} ({100 * flops / fwd / 1e9 / peak[dtype]:.1f}%)"]
        for name, (f, fb) in peers.items():
            t = cuda_median(lambda: f(path, N), reps=5)
            tb = cuda_median(lambda: fb(path, N, cot), reps=5)
            cells.append(f"{t * 1e3:.3f} / {tb * 1e3:.3f} ({t / fwd:.1f}x / {tb / both:.1f}x)")
        rows.append(cells)
    print(f"\ndevice: {torch.cuda.get_device_name()}; matmul peak GFLOP/s f32 {peak['float32']:.0f}, "
          f"f64 {peak['float64']:.0f}")
    header = ["shape", "sigcg fwd / fwd+bwd ms", "whole-path kernel fwd ms (pieces: gain)",
              "sigcg fwd GFLOP/s (% peak)"] + \
        [f"{p} fwd / fwd+bwd ms (sigcg speed-up)" for p in peers]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print("\n| log-signature (words) | sigcg fwd / fwd+bwd ms | signatory fwd / fwd+bwd ms |\n|---|---|---|")
    for B, L, d, N, dtype in LOGSIG_GRID:
        path = (torch.randn(B, L, d, dtype=getattr(torch, dtype), device="cuda") / L**0.5).cumsum(1)
        xg = path.clone().requires_grad_()
        cot = torch.randn_like(sigcg.logsignature(path, N))
        cells = []
        for lib in (sigcg, signatory):
            if lib is None:
                cells.append("-")
                continue
            f = cuda_median(lambda: lib.logsignature(path, N))
            fb = cuda_median(lambda: torch.autograd.grad(lib.logsignature(xg, N), xg, cot))
            cells.append(f"{f * 1e3:.3f} / {fb * 1e3:.3f}")
        print(f"| {(B, L, d, N, dtype)} | " + " | ".join(cells) + " |")
    print(f"GPU tests: {'passed' if tests.returncode == 0 else 'FAILED'}")
    return tests.returncode


if __name__ == "__main__":
    raise SystemExit(main())
