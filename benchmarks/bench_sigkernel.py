"""Signature kernels: sigcg against pySigLib 4.0 side by side, one process, one thread each.

    python benchmarks/bench_sigkernel.py            # the table (medians, ms) + the memory check
    python benchmarks/bench_sigkernel.py --quick    # fewer repeats, no memory check
    python benchmarks/bench_sigkernel.py --memory   # only the memory check

Forward: sig_kernel (pairs) or sig_kernel_gram; backward: the gradient with respect to both
paths given a cotangent (sigcg: torch.autograd.grad after the forward, which recomputes what it
needs in the kernel; pySigLib: sig_kernel_backprop with left and right derivatives, likewise
without a stored grid).  Runs of the two libraries alternate, so load on the machine hits both.

Memory: the peak resident memory added by the solve of an (8, 20000, 3) pair batch at dyadic
order 0 (forward, then backward), measured in a fresh process from /proc (VmHWM after resetting
it, minus VmRSS before).  pySigLib is not run there: its increment Gram alone would be
8 * 19999^2 * 8 bytes = 25.6 GB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
from timing import cuda_time

import sigcg

CASES = [  # (what, B, L, d, dyadic order, dtype)
    ("sig_kernel", 128, 100, 4, 0, torch.float64),
    ("sig_kernel", 32, 500, 3, 1, torch.float64),
    ("sig_kernel", 128, 100, 4, 0, torch.float32),
    ("gram", 64, 50, 5, 2, torch.float64),
]


def paths(batch, length, d, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    # increments of size ~1/sqrt(L): the kernel stays O(1) (a Brownian-like path on [0, 1])
    steps = torch.randn(batch, length, d, generator=g, dtype=torch.float64) / length**0.5
    return steps.cumsum(1).to(dtype)


# CPU time of the calling thread (both libraries run single-threaded in it): this machine is
# shared, and wall-clock medians moved by 2x with the load of other processes while CPU time
# stayed within a few percent.  --wall measures wall-clock time instead.
CLOCK = time.thread_time


def timed(fn) -> float:
    start = CLOCK()
    fn()
    return (CLOCK() - start) * 1e3


def interleaved(fns: dict, repeats: int) -> dict:
    """Median ms of each function, their runs alternating."""
    for fn in fns.values():
        fn()  # warm up: kernels built and loaded
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def case_functions(what, batch, length, d, lam, dtype):
    import pysiglib

    x, y = paths(batch, length, d, dtype, 1), paths(batch, length, d, dtype, 2)
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    if what == "gram":
        ours_fwd = lambda: sigcg.sig_kernel_gram(x, dyadic_order=lam)  # noqa: E731
        theirs_fwd = lambda: pysiglib.sig_kernel_gram(x, x, dyadic_order=lam)  # noqa: E731
        return {"sigcg forward": ours_fwd, "pySigLib forward": theirs_fwd}
    cot = torch.randn(batch, dtype=dtype)

    def ours_bwd():
        k = sigcg.sig_kernel(xs, ys, lam)
        start = CLOCK()
        torch.autograd.grad(k, (xs, ys), cot)
        ours_bwd.elapsed = (CLOCK() - start) * 1e3

    return {
        "sigcg forward": lambda: sigcg.sig_kernel(x, y, lam),
        "pySigLib forward": lambda: pysiglib.sig_kernel(x, y, dyadic_order=lam),
        "sigcg backward": ours_bwd,
        "pySigLib backward": lambda: pysiglib.sig_kernel_backprop(
            cot, x, y, dyadic_order=lam, left_deriv=True, right_deriv=True
        ),
    }


def run_table(repeats: int) -> list[dict]:
    rows = []
    for what, batch, length, d, lam, dtype in CASES:
        fns = case_functions(what, batch, length, d, lam, dtype)
        if "sigcg backward" in fns:  # time the backward alone (its forward is not counted)
            bwd = fns["sigcg backward"]
            fns["sigcg backward"] = lambda b=bwd: b()
            for fn in fns.values():
                fn()
            times = {k: [] for k in fns}
            for _ in range(repeats):
                for k, fn in fns.items():
                    t = timed(fn)
                    times[k].append(bwd.elapsed if k == "sigcg backward" else t)
            med = {k: statistics.median(v) for k, v in times.items()}
        else:
            med = interleaved(fns, repeats)
        label = f"{what} ({batch}, {length}, {d}, {lam}) {str(dtype)[6:]}"
        row = {"case": label, **med}
        rows.append(row)
        fwd = f"{med['pySigLib forward'] / med['sigcg forward']:.1f}x"
        line = f"| {label} | {med['sigcg forward']:.2f} | {med['pySigLib forward']:.2f} | {fwd} |"
        if "sigcg backward" in med:
            bwd_ratio = med["pySigLib backward"] / med["sigcg backward"]
            line += (
                f" {med['sigcg backward']:.2f} | {med['pySigLib backward']:.2f} | "
                f"{bwd_ratio:.1f}x |"
            )
        else:
            line += " - | - | - |"
        print(line, flush=True)
    return rows


MEMORY_SCRIPT = r"""
import json, sys, time, torch, sigcg
torch.set_num_threads(1); sigcg.set_num_threads(1)
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
g = torch.Generator().manual_seed(0)
x = (torch.randn(8, 20000, 3, generator=g, dtype=torch.float64) / 20000**0.5).cumsum(1)
y = (torch.randn(8, 20000, 3, generator=g, dtype=torch.float64) / 20000**0.5).cumsum(1)
sigcg.sig_kernel(x[:, :3], y[:, :3])  # kernels built and loaded
xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
torch.autograd.grad(sigcg.sig_kernel(xs[:, :3], ys[:, :3]), (xs, ys), torch.ones(8))
out = {}
for phase in ("forward", "backward"):
    base = status('VmRSS')
    open('/proc/self/clear_refs', 'w').write('5')  # VmHWM <- VmRSS
    start = time.perf_counter()
    if phase == "forward":
        k = sigcg.sig_kernel(xs, ys)
    else:
        torch.autograd.grad(k, (xs, ys), torch.ones(8))
    out[phase] = {"seconds": time.perf_counter() - start,
                  "peak_extra_MB": (status('VmHWM') - base) / 2**20}
print(json.dumps(out))
"""


def run_memory() -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, check=True
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for phase, r in result.items():
        print(
            f"(8, 20000, 3, 0) f64 {phase}: {r['seconds']:.2f} s, peak memory added "
            f"{r['peak_extra_MB']:.1f} MB"
        )
    return result


def run_gpu() -> None:
    """On a machine with a GPU: the CUDA kernels against the dense differentiable scheme
    (sigcg.ops.sigkernel.dense_solve, float64 on the CPU) and against the CPU kernels when
    they can be built, then timings (CUDA-synchronised medians) and peak GPU memory."""
    import traceback

    from sigcg.ops import sigkernel as sk

    dev = torch.device("cuda")
    print(torch.cuda.get_device_name(0), flush=True)

    def dense(x, y, lam, static=None, grid=False):
        lam1, lam2 = (lam, lam) if isinstance(lam, int) else lam
        if static is None:
            g = sk.linear_gram(x.diff(dim=1), y.diff(dim=1), None)
        else:
            g = static.increment_gram(x, y)
        return sk.dense_solve(g, lam1, lam2, grid)

    checks = [  # (B, Lx, Ly, d, lam, static)
        (6, 20, 11, 2, (1, 2), None),
        (9, 70, 40, 3, 0, None),
        (5, 33, 33, 2, 1, "rbf"),
        (3, 5, 4, 1, 3, None),
        (4, 9, 130, 2, (2, 0), "rbf"),
    ]
    worst = 0.0
    for batch, lx, ly, d, lam, static in checks:
        try:
            kern = sigcg.RBFKernel(0.7) if static else None
            x = paths(batch, lx, d, torch.float64, 3) * 2
            y = paths(batch, ly, d, torch.float64, 4) * 2
            cot = torch.randn(batch, dtype=torch.float64)
            xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
            ref = dense(xs, ys, lam, kern, grid=True)
            ref_g = torch.autograd.grad((ref[:, -1, -1] * cot).sum() + ref.sum(), (xs, ys))
            for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 2e-3)):
                xc = x.to(dev, dtype).requires_grad_()
                yc = y.to(dev, dtype).requires_grad_()
                grid = sigcg.sig_kernel(xc, yc, lam, kern, return_grid=True)
                value = sigcg.sig_kernel(xc, yc, lam, kern)
                grads = torch.autograd.grad(
                    (value * cot.to(dev, dtype)).sum() + grid.sum(), (xc, yc)
                )
                errs = [
                    (grid.double().cpu() - ref).abs().max().item(),
                    (value.double().cpu() - ref[:, -1, -1]).abs().max().item(),
                ]
                errs += [
                    (g.double().cpu() - e).abs().max().item() / max(1.0, e.abs().max().item())
                    for g, e in zip(grads, ref_g)
                ]
                scale = max(1.0, ref.abs().max().item())
                err = max(errs[:2]) / scale
                worst = max(worst, err) if dtype == torch.float64 else worst
                status = "ok" if max(err, *errs[2:]) < tol else "MISMATCH"
                print(
                    f"check {(batch, lx, ly, d, lam, static)} {str(dtype)[6:]}: "
                    f"value/grid {err:.1e}, grads {errs[2]:.1e} {errs[3]:.1e} {status}",
                    flush=True,
                )
            xg = x.to(dev)
            gram = sigcg.sig_kernel_gram(xg, dyadic_order=1, static_kernel=kern)
            exp = (
                sigcg.sig_kernel_gram(x, dyadic_order=1, static_kernel=kern)
                if _cpu_kernels()
                else None
            )
            sym = torch.equal(gram, gram.T)
            diff = (gram.cpu() - exp).abs().max().item() if exp is not None else float("nan")
            print(f"  gram symmetric {sym}, vs CPU kernels {diff:.1e}", flush=True)
        except Exception:
            traceback.print_exc()
    print(f"worst float64 value/grid error: {worst:.1e}", flush=True)

    def cuda_median(fn):  # ms, by CUDA events
        return cuda_time(fn) * 1e3

    for what, batch, length, d, lam, dtype in CASES + [
        ("sig_kernel", 1024, 100, 4, 0, torch.float32)
    ]:
        try:
            x = paths(batch, length, d, dtype, 1).to(dev)
            y = paths(batch, length, d, dtype, 2).to(dev)
            if what == "gram":
                fwd = cuda_median(lambda: sigcg.sig_kernel_gram(x, dyadic_order=lam))
                print(
                    f"GPU gram ({batch}, {length}, {d}, {lam}) {str(dtype)[6:]}: {fwd:.2f} ms",
                    flush=True,
                )
                continue
            xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
            fwd = cuda_median(lambda: sigcg.sig_kernel(x, y, lam))
            both = cuda_median(
                lambda: torch.autograd.grad(
                    sigcg.sig_kernel(xs, ys, lam), (xs, ys), torch.ones_like(x[:, 0, 0])
                )
            )
            print(
                f"GPU sig_kernel ({batch}, {length}, {d}, {lam}) {str(dtype)[6:]}: forward "
                f"{fwd:.2f} ms, forward+backward {both:.2f} ms",
                flush=True,
            )
        except Exception:
            traceback.print_exc()
    for length in (2000, 5000):
        try:
            x = paths(8, length, 3, torch.float64, 5).to(dev).requires_grad_()
            y = paths(8, length, 3, torch.float64, 6).to(dev).requires_grad_()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            t0 = time.perf_counter()
            k = sigcg.sig_kernel(x, y)
            torch.cuda.synchronize()
            t1 = time.perf_counter()
            fwd_peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            torch.autograd.grad(k, (x, y), torch.ones_like(k))
            torch.cuda.synchronize()
            t2 = time.perf_counter()
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            print(
                f"GPU (8, {length}, 3, 0) f64: forward {t1 - t0:.2f} s (peak +{fwd_peak:.1f} "
                f"MB), backward {t2 - t1:.2f} s (peak +{peak:.1f} MB)",
                flush=True,
            )
        except Exception:
            traceback.print_exc()


def _cpu_kernels() -> bool:
    try:
        import cffi  # noqa: F401

        from sigcg.runtime.compiler import toolchain_or_none

        return toolchain_or_none() is not None
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    parser.add_argument("--gpu", action="store_true", help="the CUDA kernels: checks, timings")
    args = parser.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    if args.gpu:
        run_gpu()
        return
    torch.set_num_threads(1)
    sigcg.set_num_threads(1)
    if not args.memory:
        clock = "wall-clock" if args.wall else "thread CPU time"
        print(f"single thread; medians of {clock} in ms; speed-up = pySigLib / sigcg")
        print(
            "| case (B, L, d, dyadic order) | sigcg fwd | pySigLib fwd | speed-up | "
            "sigcg bwd | pySigLib bwd | speed-up |"
        )
        print("|---|---|---|---|---|---|---|")
        run_table(args.repeats or (5 if args.quick else 15))
    if args.memory or not args.quick:
        run_memory()


if __name__ == "__main__":
    main()
