"""Log-signatures: sigcg against Signatory and pySigLib (log_sig methods 1 and 2), single thread.

    python benchmarks/bench_logsignature.py [--quick]

Forward is the log-signature of the path; backward is one backward pass through autograd from a
fixed cotangent, forward excluded (for every library: fwd+bwd median minus fwd median).
"""

from __future__ import annotations

import argparse

import torch
from timing import median_time

import sigcg

GRID = [(32, 128, 4, 6, "float64"), (32, 128, 8, 4, "float32"), (128, 256, 3, 5, "float64")]


def time_fwd_bwd(fn, path, budget):
    x = path.clone().requires_grad_()
    out = fn(x)
    cot = torch.randn_like(out)
    fwd = median_time(lambda: fn(path), budget)
    both = median_time(lambda: torch.autograd.grad(fn(x), x, cot), budget)
    return fwd, max(both - fwd, 0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sigcg.set_num_threads(1)
    budget = 0.3 if args.quick else 1.5
    libs = {
        "sigcg words": lambda p, n: sigcg.logsignature(p, n, mode="words"),
        "sigcg brackets": lambda p, n: sigcg.logsignature(p, n, mode="brackets"),
    }
    try:
        import signatory

        libs["signatory words"] = lambda p, n: signatory.logsignature(p, n, mode="words")
        libs["signatory brackets"] = lambda p, n: signatory.logsignature(p, n, mode="brackets")
    except ImportError:
        pass
    try:
        import pysiglib.torch_api as ps

        for method in (1, 2):
            libs[f"pysiglib m{method}"] = lambda p, n, m=method: ps.log_sig(
                p, n, method=m, n_jobs=1
            )
    except ImportError:
        ps = None
    print("# single thread; medians in ms, forward / backward")
    print("| shape | " + " | ".join(libs) + " |\n|" + "---|" * (len(libs) + 1))
    ratios = {}
    for B, L, d, N, dtype in GRID:
        g = torch.Generator().manual_seed(0)
        path = (torch.randn(B, L, d, generator=g, dtype=getattr(torch, dtype)) / L**0.5).cumsum(1)
        if ps is not None:
            for method in (1, 2):
                ps.prepare_log_sig(d, N, method)
        res = {name: time_fwd_bwd(lambda p: fn(p, N), path, budget) for name, fn in libs.items()}
        cells = [f"{fwd * 1e3:.2f} / {bwd * 1e3:.2f}" for fwd, bwd in res.values()]
        print(f"| {(B, L, d, N, dtype)} | " + " | ".join(cells) + " |", flush=True)
        for name, (fwd, bwd) in res.items():
            if not name.startswith("sigcg"):
                mode = "brackets" if name.endswith("brackets") or name.endswith("m2") else "words"
                ratios.setdefault(name, []).append(
                    (fwd / res[f"sigcg {mode}"][0], bwd / max(res[f"sigcg {mode}"][1], 1e-9))
                )
    for name, rs in ratios.items():
        print(
            f"sigcg speed-up vs {name}: forward "
            f"{', '.join(f'{f:.1f}x' for f, _ in rs)}; backward "
            f"{', '.join(f'{b:.1f}x' for _, b in rs)}"
        )


if __name__ == "__main__":
    main()
