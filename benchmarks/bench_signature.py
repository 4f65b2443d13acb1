"""sigcg against pySigLib, iisignature and Signatory on identical inputs, single thread.

    python benchmarks/bench_signature.py [--quick] [--shapes 0,2] [--json out.json] [--out DIR]

Prints, per shape of the reference grid, the median forward and backward time of every peer that
imports, sigcg's ratio to each, sigcg's achieved GFLOP/s (2 flops per multiply-add of the
generated kernel, its provenance op count), then the cold first-call time per shape (fresh cache,
generation + compile + load) and the warm per-call overhead on the tiny shape.

With ``--out DIR`` (``make bench``: docs/benchmarks) it also writes there what it printed
(signature.md), the raw numbers (signature.json) and PNG plots: time against depth for several
channel counts (every library, forward and backward) and sigcg's speed-up over each peer.  A peer
that cannot be imported is named, with the reason, in the output and on the plots' page.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import median_time

import sigcg
from sigcg import ops
from sigcg.codegen import KernelSpec

GRID = [
    (128, 256, 4, 6, "float64"),
    (32, 128, 8, 5, "float32"),
    (32, 128, 4, 6, "float64"),
    (256, 1000, 4, 3, "float32"),
    (1024, 64, 2, 8, "float64"),
    (128, 100, 3, 4, "float32"),
    (1, 10, 2, 3, "float64"),
]
# Fewer paths than SIMD lanes x threads: sigcg cuts them into pieces (sigcg/api/chunking.py).
SMALL_BATCH = [(1, 4096, 3, 6, "float64"), (4, 4096, 3, 6, "float32"), (1, 2000, 8, 4, "float32")]


PEERS = ("pysiglib", "signatory", "iisignature")


def peers() -> tuple[dict, dict[str, str]]:
    """The peers that import, and why each other one does not (never dropped silently)."""
    import importlib

    found, missing = {}, {}
    for name in PEERS:
        try:
            found[name] = importlib.import_module(name)
        except Exception as exc:  # ImportError, or a build against another torch
            missing[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return found, missing


# Time against (channels, depth): (32, 128, d, N) float64, every peer, for the plot.
SWEEP = [(d, n) for d in (2, 3, 4, 6) for n in range(2, 7) if d**n <= 4096]


def sweep_rows(found, budget):
    rows = []
    print(
        "\n# time against (channels, depth): (32, 128, d, N) float64; ms forward / backward\n"
        "| d | N | " + " | ".join(["sigcg", *found]) + " |\n|" + "---|" * (2 + 1 + len(found))
    )
    for d, n in SWEEP:
        res = bench_shape((32, 128, d, n, "float64"), found, budget)
        row = {"d": d, "N": n}
        row.update({f"{k[0]}_{k[1]}": v for k, v in res.items() if isinstance(k, tuple)})
        rows.append(row)
        cells = [
            f"{fmt_ms(row.get(f'{lib}_fwd'))} / {fmt_ms(row.get(f'{lib}_bwd'))}"
            for lib in ["sigcg", *found]
        ]
        print(f"| {d} | {n} | " + " | ".join(cells) + " |", flush=True)
    return rows


class Tee:
    """Print to the terminal and keep a copy (the tables written next to the plots)."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def bench_shape(shape, found, budget):
    B, L, d, N, dtype = shape
    tdtype = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    path = (torch.randn(B, L, d, generator=g, dtype=torch.float64) / L**0.5).cumsum(1).to(tdtype)
    path_np = path.numpy().copy()  # owning arrays: pySigLib copies views on every call
    sig = sigcg.signature(path, N)
    cot = torch.randn(sig.shape, generator=g, dtype=torch.float64).to(tdtype)
    res = {}

    res["sigcg", "fwd"] = median_time(lambda: sigcg.signature(path, N), budget)
    res["sigcg", "bwd"] = median_time(
        lambda: ops.signature_backward.forward(path, None, sig, cot, N, False, False), budget
    )
    if "pysiglib" in found:
        ps = found["pysiglib"]
        res["pysiglib", "fwd"] = median_time(lambda: ps.sig(path_np, N, n_jobs=1), budget)
        ps_sig = ps.sig(path_np, N, n_jobs=1)
        np.testing.assert_allclose(ps_sig, sig.numpy(), rtol=1e-3, atol=1e-3 * abs(ps_sig).max())
        cot_np = cot.numpy().copy()
        res["pysiglib", "bwd"] = median_time(
            lambda: ps.sig_backprop(path_np, ps_sig, cot_np, N, n_jobs=1), budget
        )
    if "iisignature" in found and B * L * d**N < 5e8:
        ii = found["iisignature"]
        res["iisignature", "fwd"] = median_time(lambda: ii.sig(path_np, N), budget, min_reps=1)
        cot_np = cot.numpy().copy()
        res["iisignature", "bwd"] = median_time(
            lambda: ii.sigbackprop(cot_np, path_np, N), budget, min_reps=1
        )
    if "signatory" in found:
        sg = found["signatory"]
        res["signatory", "fwd"] = median_time(lambda: sg.signature(path, N), budget, min_reps=1)
        xg = path.clone().requires_grad_()

        def fwd_bwd():
            torch.autograd.grad(sg.signature(xg, N), xg, cot)

        res["signatory", "bwd"] = max(
            median_time(fwd_bwd, budget, min_reps=1) - res["signatory", "fwd"], 0.0
        )
    spec = KernelSpec("signature_forward", d, N, dtype)
    fma = spec.kernel.op_counts(spec)["fma"]
    res["gflops"] = 2 * fma * B * (L - 1) / res["sigcg", "fwd"] / 1e9
    return res


def small_batch_rows(found, budget):
    """sigcg (public API, and one whole-path kernel call) against pySigLib, forward and
    forward+backward, on batches too small to fill the machine."""
    print(
        "\n# small batches of long paths, single thread; ms; fwd+bwd through autograd\n"
        "| shape | sigcg fwd | whole-path kernel fwd | sigcg fwd+bwd | pysiglib fwd | "
        "pysiglib fwd+bwd | vs pysiglib fwd / fwd+bwd |\n|" + "---|" * 7
    )
    for B, L, d, N, dtype in SMALL_BATCH:
        g = torch.Generator().manual_seed(0)
        path = (torch.randn(B, L, d, generator=g, dtype=torch.float64) / L**0.5).cumsum(1)
        path = path.to(getattr(torch, dtype))
        xg = path.clone().requires_grad_()
        cot = torch.randn(sigcg.signature(path, N).shape, generator=g).to(path.dtype)
        fwd = median_time(lambda: sigcg.signature(path, N), budget)
        whole = median_time(lambda: ops.signature.forward(path, None, N, False), budget)
        both = median_time(lambda: torch.autograd.grad(sigcg.signature(xg, N), xg, cot), budget)
        cells = [str((B, L, d, N, dtype)), fmt_ms(fwd), fmt_ms(whole), fmt_ms(both)]
        if "pysiglib" in found:
            ps, path_np, cot_np = found["pysiglib"], path.numpy().copy(), cot.numpy().copy()
            ps_fwd = median_time(lambda: ps.sig(path_np, N, n_jobs=1), budget)

            def ps_both():
                ps.sig_backprop(path_np, ps.sig(path_np, N, n_jobs=1), cot_np, N, n_jobs=1)

            ps_fb = median_time(ps_both, budget)
            cells += [fmt_ms(ps_fwd), fmt_ms(ps_fb), f"{ps_fwd / fwd:.1f}x / {ps_fb / both:.1f}x"]
        else:
            cells += ["-", "-", "-"]
        print("| " + " | ".join(cells) + " |", flush=True)


COLD_SNIPPET = """
import time, torch, sigcg
B, L, d, N, dtype = {shape!r}
x = torch.randn(B, L, d, dtype=getattr(torch, dtype))
t0 = time.perf_counter(); sigcg.signature(x, N); t1 = time.perf_counter()
x.requires_grad_(); out = sigcg.signature(x, N)
t2 = time.perf_counter(); out.backward(torch.ones_like(out)); t3 = time.perf_counter()
print(t1 - t0, t3 - t2)
"""


def cold_first_call(shape):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SIGCG_CACHE_DIR=cache, OMP_NUM_THREADS="1")
        out = subprocess.run(
            [sys.executable, "-c", COLD_SNIPPET.format(shape=shape)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return float(out[0]), float(out[1])


def warm_overhead():
    x = torch.randn(1, 10, 2, dtype=torch.float64)
    fwd = median_time(lambda: sigcg.signature(x, 3), 1.0, max_reps=20000)
    xg = x.clone().requires_grad_()
    cot = torch.randn(1, sigcg.signature_channels(2, 3), dtype=torch.float64)
    both = median_time(
        lambda: torch.autograd.grad(sigcg.signature(xg, 3), xg, cot), 1.0, max_reps=20000
    )
    return fwd, both


def fmt_ms(t):
    return "-" if t is None else (f"{t * 1e3:.3f}" if t < 0.01 else f"{t * 1e3:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter timing budget")
    parser.add_argument("--shapes", help="comma-separated indices into the grid")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--json", help="also write the raw numbers here")
    parser.add_argument("--out", help="write tables (signature.md), numbers and PNG plots here")
    parser.add_argument("--no-sweep", action="store_true", help="skip the (d, N) sweep")
    parser.add_argument("--replot", action="store_true", help="redraw --out's plots from its json")
    args = parser.parse_args()
    if args.replot:
        return replot(Path(args.out))
    tee = None
    if args.out:
        tee = sys.stdout = Tee(sys.stdout)
    torch.set_num_threads(1)
    sigcg.set_num_threads(1)
    found, missing = peers()
    budget = 0.3 if args.quick else 1.5
    grid = GRID if not args.shapes else [GRID[int(i)] for i in args.shapes.split(",")]
    names = ["sigcg"] + [p for p in PEERS if p in found]
    print(f"# single thread; medians in ms; peers: {', '.join(names[1:]) or 'none'}")
    for name, why in missing.items():
        print(f"# peer {name} NOT MEASURED: it does not import ({why})")
    header = (
        ["shape (B,L,d,N,dtype)"]
        + [f"{n} fwd/bwd" for n in names]
        + [f"vs {n} fwd/bwd" for n in names[1:]]
        + ["sigcg bwd/fwd", "GFLOP/s"]
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    raw = {}
    ratios = {n: ([], []) for n in names[1:]}
    for shape in grid:
        res = bench_shape(shape, found, budget)
        raw[str(shape)] = {
            f"{k[0]}_{k[1]}" if isinstance(k, tuple) else k: v for k, v in res.items()
        }
        cells = [str(shape)]
        for n in names:
            cells.append(f"{fmt_ms(res.get((n, 'fwd')))} / {fmt_ms(res.get((n, 'bwd')))}")
        for n in names[1:]:
            parts = []
            for i, kind in enumerate(("fwd", "bwd")):
                if (n, kind) in res:
                    r = res[n, kind] / res["sigcg", kind]
                    ratios[n][i].append(r)
                    parts.append(f"{r:.1f}x")
                else:
                    parts.append("-")
            cells.append(" / ".join(parts))
        cells.append(f"{res['sigcg', 'bwd'] / res['sigcg', 'fwd']:.2f}")
        cells.append(f"{res['gflops']:.1f}")
        print("| " + " | ".join(cells) + " |", flush=True)
    for n, (f, b) in ratios.items():
        if f:
            print(
                f"median speed-up vs {n}: forward {statistics.median(f):.2f}x, "
                f"backward {statistics.median(b):.2f}x"
            )
    if not args.shapes:
        small_batch_rows(found, budget)
    if not args.no_cold:
        print("\n| shape | cold first forward (s) | cold first backward (s) |\n|---|---|---|")
        for shape in grid:
            f, b = cold_first_call(shape)
            raw.setdefault(str(shape), {}).update(cold_fwd=f, cold_bwd=b)
            print(f"| {shape} | {f:.2f} | {b:.2f} |", flush=True)
    fwd, both = warm_overhead()
    raw["warm_tiny"] = {"fwd": fwd, "fwd_bwd": both}
    print(
        f"\nwarm per-call time, (1,10,2,3,f64): forward {fwd * 1e6:.1f} us, "
        f"forward+backward through autograd {both * 1e6:.1f} us"
    )
    sweep = []
    if args.out and not args.no_sweep and not args.shapes:
        sweep = sweep_rows(found, budget)
        raw["sweep"] = sweep
    raw["missing_peers"] = missing
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)
    if args.out:
        write_out(Path(args.out), tee, raw, grid, sweep, names, missing)


def replot(out):
    from plots import plot_speedup, plot_sweep

    raw = json.loads((out / "signature.json").read_text())
    shapes = [s for s in raw if s.startswith("(")]
    found = [p for p in PEERS if p not in raw.get("missing_peers", {})]
    rows = [dict(raw[s], shape=_label(ast.literal_eval(s))) for s in shapes]
    plot_speedup(rows, found, out / "speedup.png", SPEEDUP_TITLE)
    if raw.get("sweep"):
        plot_sweep(raw["sweep"], ["sigcg", *found], out / "time_vs_channels_depth.png", SWEEP_TITLE)


SPEEDUP_TITLE = "sigcg's speed-up, single thread (higher is better)"
SWEEP_TITLE = "(32, 128, d, N) float64, single thread: median time per call"


def _label(shape):
    return f"{shape[:4]} f{shape[4][5:]}"


def write_out(out, tee, raw, grid, sweep, names, missing):
    import platform

    from plots import plot_speedup, plot_sweep

    out.mkdir(parents=True, exist_ok=True)
    sys.stdout = tee.stream
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    versions = ", ".join(
        f"{n} {getattr(sys.modules.get(n), '__version__', '?')}" for n in ["sigcg", *names[1:]]
    )
    header = (
        f"<!-- written by benchmarks/bench_signature.py --out {out} -->\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {machine}; torch {torch.__version__}; "
        f"{versions}.\n\n"
    )
    if missing:
        header += "".join(
            f"**{n} not measured**: it does not import here ({why}).\n\n"
            for n, why in missing.items()
        )
    (out / "signature.md").write_text(header + "".join(tee.parts))
    (out / "signature.json").write_text(json.dumps(raw, indent=1))
    rows = [dict(raw[str(s)], shape=_label(s)) for s in grid]
    written = [plot_speedup(rows, names[1:], out / "speedup.png", SPEEDUP_TITLE)]
    if sweep:
        written.append(
            plot_sweep(
                sweep,
                names,
                out / "time_vs_channels_depth.png",
                SWEEP_TITLE,
            )
        )
    files = [out / "signature.md", out / "signature.json", *written]
    print("wrote " + ", ".join(map(str, files)))


if __name__ == "__main__":
    main()
