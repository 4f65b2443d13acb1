"""Everything sigcg checks and times on a GPU, in one call (``make gpu-check``).

    python benchmarks/gpu_check.py [--out benchmarks/results] [--skip-tests] [--skip-sanitizer]

1. The machine: device, driver, CUDA/NVRTC, torch, CuPy, JAX.
2. Every GPU test (`-m gpu` over tests/: every CUDA op and strategy against the CPU kernels, values
   and gradients, float32 and float64, batch 1, largest shared-memory shapes, global fallbacks,
   non-default and concurrent streams).
3. compute-sanitizer racecheck and memcheck on one small case per kernel family (only sigcg's
   kernels are instrumented).
4. Timings with CUDA events (medians): signatures forward and backward on the reference grid,
   log-signatures, the signature-kernel Gram; achieved FLOP/s against the device's peak; a plain
   JAX signature (benchmarks/baselines/jax_signature.py) on the same inputs as the GPU baseline.
5. The tables go to stdout and to ``<out>/gpu-<device>-<date>.md``.

pySigLib's PyPI wheel for Linux is built without CUDA (``pysiglib.BUILT_WITH_CUDA`` is False), and
Signatory's CUDA path is a loop of ATen ops (no kernels of its own); neither is a GPU baseline
that runs here, so JAX is.

On a machine where sigcg is not installed (the lent GPU machine: no network, no cffi), run from
the source tree after ``make gpu-wheels`` here, carrying ``.whl``::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
    PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py

The script then imports sigcg through a staging directory of links laid out as the wheel is
(``sigcg.codegen`` and ``sigcg/templates`` come from codegen/ and templates/).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# JAX (the baseline) would otherwise take 75% of the GPU's memory at import, starving torch
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import torch  # noqa: E402
from timing import cuda_time  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _stage_source_tree() -> str:
    """The directory to import sigcg from.  An installed sigcg (``pip install -e .``) is used as
    it is; a bare source tree (the GPU machine, where nothing is installed) lacks sigcg.codegen
    and sigcg/templates, which the wheel maps from codegen/ and templates/, so a staging
    directory of links lays the package out as installed.  Returns "" when nothing was staged."""
    import importlib.util

    try:
        if importlib.util.find_spec("sigcg.codegen") is not None:
            return ""
    except ImportError:  # sigcg/__init__ imports sigcg.codegen
        for name in [n for n in sys.modules if n == "sigcg" or n.startswith("sigcg.")]:
            del sys.modules[name]
    stage = Path(os.environ.get("SIGCG_GPU_STAGE") or tempfile.mkdtemp(prefix="sigcg-stage-"))
    package = stage / "sigcg"
    if not package.exists():
        package.mkdir(parents=True)
        for item in (REPO / "sigcg").iterdir():
            (package / item.name).symlink_to(item)
        (package / "codegen").symlink_to(REPO / "codegen")
        (package / "templates").symlink_to(REPO / "templates")
    os.environ["SIGCG_GPU_STAGE"] = str(stage)  # subprocesses reuse it
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(stage), os.environ.get("PYTHONPATH", "")) if p
    )
    sys.path.insert(0, str(stage))
    return str(stage)


STAGE = _stage_source_tree()

# (B, L, d, N, dtype): the grid, then two shapes with B * d^N >= 1e7 where a kernel
# should approach the device's bound.
GRID = [
    (128, 256, 4, 6, "float64"),
    (32, 128, 8, 5, "float32"),
    (32, 128, 4, 6, "float64"),
    (256, 1000, 4, 3, "float32"),
    (1024, 64, 2, 8, "float64"),
    (128, 100, 3, 4, "float32"),
    (256, 10000, 4, 3, "float32"),
    (4, 4096, 3, 6, "float32"),
    (4096, 256, 4, 6, "float32"),
    (2048, 128, 8, 5, "float32"),
]
LOGSIG_GRID = [(32, 128, 4, 6, "float64"), (32, 128, 8, 4, "float32"), (128, 256, 3, 5, "float64")]
# The H100 SXM's datasheet peaks (non-tensor-core FMA throughput), per dtype, TFLOP/s.
PEAK_TFLOPS = {
    "H100": {"float32": 67.0, "float64": 34.0},
    "H200": {"float32": 67.0, "float64": 34.0},
}
JAX_BUDGET_S = 150.0  # compile + time the JAX baseline within this, then stop


def machine() -> list[str]:
    from sigcg.runtime.cuda import nvrtc_version

    lines = [
        f"device: {torch.cuda.get_device_name()} "
        f"({torch.cuda.get_device_properties(0).multi_processor_count} SMs)"
    ]
    smi = shutil.which("nvidia-smi")
    if smi:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout
        lines.append(f"driver, memory: {out.strip()}")
    import cupy

    lines.append(
        f"torch {torch.__version__} (CUDA {torch.version.cuda}), CuPy {cupy.__version__},"
        f" NVRTC {nvrtc_version()}, Python {platform.python_version()}"
    )
    try:
        import jax

        lines.append(f"JAX {jax.__version__} on {jax.devices()[0]}")
    except Exception as exc:  # reported, not fatal: JAX is the baseline only
        lines.append(f"JAX unavailable: {exc}")
    return lines


def run_tests() -> tuple[bool, str]:
    # From the staging directory when there is one: `python -m pytest` puts its working
    # directory first on sys.path, where the bare source tree would shadow the staged package.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "gpu",
            str(REPO / "tests"),  # every test marked gpu (tests/test_gpu.py, signature kernels)
            "--rootdir",
            str(REPO),
            "-c",
            str(REPO / "pyproject.toml"),
            "-p",
            "no:cacheprovider",
            "-n",
            "4",
        ],
        cwd=STAGE or REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = proc.stdout.strip().splitlines()[-25:]
    return proc.returncode == 0, "\n".join(tail)


def sanitizer_cases() -> None:
    """One small case per kernel family, forward and backward (run under compute-sanitizer)."""
    import sigcg

    torch.manual_seed(0)
    for d, depth, dtype in [(3, 4, torch.float32), (4, 6, torch.float64), (2, 3, torch.float64)]:
        x = torch.randn(3, 9, d, dtype=dtype, device="cuda", requires_grad=True)
        init = torch.randn(3, sigcg.signature_channels(d, depth), dtype=dtype, device="cuda")
        for stream in (False, True):
            out = sigcg.signature(x, depth, stream=stream, initial=init.requires_grad_())
            torch.autograd.grad(out.sum(), (x, init))
        s = sigcg.signature(x, depth).detach().requires_grad_()
        comb = sigcg.signature_combine(s, s, d, depth)
        log = sigcg.signature_to_logsignature(comb, d, depth)
        back = sigcg.logsignature_to_signature(log, d, depth)
        torch.autograd.grad(back.sum(), s)
    if hasattr(sigcg, "sig_kernel_gram"):
        y = torch.randn(3, 7, 2, dtype=torch.float64, device="cuda", requires_grad=True)
        torch.autograd.grad(sigcg.sig_kernel_gram(y, None, dyadic_order=1).sum(), y)
    torch.cuda.synchronize()


def run_sanitizer() -> list[str]:
    tool = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
    if not os.path.exists(tool):
        return ["compute-sanitizer not found"]
    lines = []
    for check in ("racecheck", "memcheck"):
        start = time.perf_counter()
        proc = subprocess.run(
            [
                tool,
                f"--tool={check}",
                "--kernel-name",
                "kns=sigcg_",
                "--error-exitcode=3",
                sys.executable,
                __file__,
                "--sanitizer-cases",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
        )
        summary = [
            line
            for line in proc.stdout.splitlines()
            if "ERROR SUMMARY" in line or "RACECHECK SUMMARY" in line
        ]
        lines.append(
            f"{check}: exit {proc.returncode}, {' / '.join(summary) or 'no summary'}"
            f" ({time.perf_counter() - start:.0f} s)"
        )
        if proc.returncode != 0:
            lines.append("\n".join((proc.stdout + proc.stderr).splitlines()[-30:]))
    return lines


def time_signatures(peak: dict[str, float], deadline: float) -> list[str]:
    import sigcg
    from sigcg.codegen import KernelSpec

    jax_fns = _jax_baseline()
    rows = [
        "| (B, L, d, N, dtype) | sigcg fwd ms | sigcg fwd+bwd ms | GFLOP/s fwd (% peak) | "
        "JAX scan fwd / fwd+bwd ms | JAX tree fwd / fwd+bwd ms | sigcg speed-up vs best JAX "
        "fwd / fwd+bwd |",
        "|---|---|---|---|---|---|---|",
    ]
    for B, L, d, N, dtype in GRID:
        dt = getattr(torch, dtype)
        g = torch.Generator(device="cuda").manual_seed(0)
        path = (torch.randn(B, L, d, generator=g, device="cuda", dtype=dt) / L**0.5).cumsum(1)
        xg = path.clone().requires_grad_()
        cot = torch.randn_like(sigcg.signature(path, N))
        fwd = cuda_time(lambda: sigcg.signature(path, N))
        both = cuda_time(lambda: torch.autograd.grad(sigcg.signature(xg, N), xg, cot))
        spec = KernelSpec("signature_forward", d, N, dtype)
        flops = 2 * spec.kernel.op_counts(spec)["fma"] * B * (L - 1)
        rate = flops / fwd / 1e9
        cells = [
            str((B, L, d, N, dtype)),
            f"{fwd * 1e3:.3f}",
            f"{both * 1e3:.3f}",
            f"{rate:.0f} ({100 * rate / (1e3 * peak[dtype]):.1f}%)",
        ]
        best = [None, None]
        for method in ("scan", "tree"):
            if jax_fns is None or time.perf_counter() > deadline:
                cells.append("not run" if jax_fns is None else "skipped (time budget)")
                continue
            try:
                jf, jb = _time_jax(jax_fns, method, path, cot, N, d, dtype)
            except Exception as exc:  # out of memory for the tree on long paths, say
                cells.append(f"failed: {type(exc).__name__}")
                continue
            cells.append(f"{jf * 1e3:.3f} / {jb * 1e3:.3f}")
            best = [
                min(x for x in (best[0], jf) if x is not None),
                min(x for x in (best[1], jb) if x is not None),
            ]
        cells.append(f"{best[0] / fwd:.1f}x / {best[1] / both:.1f}x" if best[0] else "-")
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def _jax_baseline():
    try:
        from benchmarks.baselines import jax_signature

        return jax_signature
    except Exception as exc:
        print(f"JAX baseline unavailable: {exc}")
        return None


def _time_jax(module, method, path, cot, N, d, dtype):
    import jax
    import jax.dlpack

    x = jax.dlpack.from_dlpack(path.detach())
    c = jax.dlpack.from_dlpack(cot)
    sig = module.make_signature(N, d, dtype, method=method)
    vjp = module.make_signature_vjp(N, d, dtype, method=method)
    sig(x).block_until_ready()  # compiles
    vjp(x, c).block_until_ready()

    def wall(fn, reps=10):
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn().block_until_ready()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    return wall(lambda: sig(x)), wall(lambda: vjp(x, c))


def time_logsignatures() -> list[str]:
    import sigcg

    rows = ["| log-signature (B, L, d, N, dtype), words | fwd ms | fwd+bwd ms |", "|---|---|---|"]
    for B, L, d, N, dtype in LOGSIG_GRID:
        path = (torch.randn(B, L, d, device="cuda", dtype=getattr(torch, dtype)) / L**0.5).cumsum(1)
        xg = path.clone().requires_grad_()
        cot = torch.randn_like(sigcg.logsignature(path, N))
        f = cuda_time(lambda: sigcg.logsignature(path, N))
        fb = cuda_time(lambda: torch.autograd.grad(sigcg.logsignature(xg, N), xg, cot))
        rows.append(f"| {(B, L, d, N, dtype)} | {f * 1e3:.3f} | {fb * 1e3:.3f} |")
    return rows


def time_sig_kernels() -> list[str]:
    import sigcg

    if not hasattr(sigcg, "sig_kernel_gram"):
        return ["signature kernels: not in this build"]
    rows = ["| signature kernel | fwd ms | fwd+bwd ms | PDE cells / s |", "|---|---|---|---|"]
    for B1, B2, L, d, lam, dtype in [
        (64, 64, 50, 5, 2, "float64"),
        (256, 256, 100, 4, 0, "float32"),
    ]:
        x = torch.randn(B1, L, d, device="cuda", dtype=getattr(torch, dtype)) / L**0.5
        y = torch.randn(B2, L, d, device="cuda", dtype=getattr(torch, dtype)) / L**0.5
        xg = x.clone().requires_grad_()
        f = cuda_time(lambda: sigcg.sig_kernel_gram(x, y, dyadic_order=lam))
        fb = cuda_time(
            lambda: torch.autograd.grad(sigcg.sig_kernel_gram(xg, y, dyadic_order=lam).sum(), xg)
        )
        cells = B1 * B2 * ((L - 1) * 2**lam) ** 2
        rows.append(
            f"| Gram {B1}x{B2}, L={L}, d={d}, λ={lam}, {dtype} | {f * 1e3:.3f} | "
            f"{fb * 1e3:.3f} | {cells / f / 1e9:.1f} G |"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-sanitizer", action="store_true")
    parser.add_argument("--sanitizer-cases", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sanitizer_cases:
        sanitizer_cases()
        return 0
    if not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA device; nothing to do here")
        return 1
    started = time.perf_counter()
    report = [f"# sigcg on {torch.cuda.get_device_name()}, {datetime.date.today()}", ""]
    report += machine()
    print("\n".join(report), flush=True)
    ok = True
    if not args.skip_tests:
        ok, tail = run_tests()
        report += ["", "## GPU tests", "", "```", tail, "```"]
        print(tail, flush=True)
    if not args.skip_sanitizer:
        lines = run_sanitizer()
        report += ["", "## compute-sanitizer", "", "```", *lines, "```"]
        print("\n".join(lines), flush=True)
        ok = ok and all(" exit 0," in line for line in lines if line.startswith(("race", "mem")))
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), PEAK_TFLOPS["H100"])
    report += [
        "",
        "## Signatures (sigcg: CUDA events, medians, fwd+bwd through autograd; JAX: "
        "wall clock around block_until_ready, fwd+bwd = jax.vjp)",
        "",
    ]
    report += time_signatures(peak, time.perf_counter() + JAX_BUDGET_S)
    report += ["", "## Log-signatures", ""] + time_logsignatures()
    report += ["", "## Signature kernels", ""] + time_sig_kernels()
    report += [
        "",
        f"total {time.perf_counter() - started:.0f} s; "
        f"{'all checks passed' if ok else 'SOME CHECKS FAILED'}",
    ]
    text = "\n".join(report) + "\n"
    print("\n".join(report[-12:]))
    out = Path(os.environ.get("OUT") or args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = name.replace(" ", "-").replace("/", "-")
    (out / f"gpu-{tag}-{datetime.date.today()}.md").write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
