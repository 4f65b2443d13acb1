"""What a user waits for in a fresh process on a warm kernel cache, and per call on tiny inputs.

    python benchmarks/bench_first_call.py [--reps 5]

Prints (medians over fresh processes): ``import torch``, ``import sigcg`` on top of it, and the
first call of each public function (autograd included where it has a backward); then the warm
per-call time of a tiny signature, forward and forward + ``.sum().backward()``, side by side with
a trivial ``torch.autograd.Function`` (the floor any autograd op pays), single thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

PROCESS = r"""
import gc, json, sys, time
# Time spent in Python's cyclic garbage collector, which a first call can trigger: after
# `import torch` a full collection walks its ~10^6 objects (~0.1 s), whoever allocates next.
gc_time, gc_start = [0.0], [0.0]
def on_gc(phase, info):
    if phase == "start":
        gc_start[0] = time.perf_counter()
    else:
        gc_time[0] += time.perf_counter() - gc_start[0]
gc.callbacks.append(on_gc)
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import sigcg
t2 = time.perf_counter()
x = torch.randn(4, 12, 3, dtype=torch.float64)
xg = x.clone().requires_grad_()
s = torch.randn(4, 39, dtype=torch.float64)
calls = {
    "signature (fwd+bwd)": lambda: sigcg.signature(xg, 3).sum().backward(),
    "logsignature brackets (fwd+bwd)": lambda: sigcg.logsignature(xg, 3, mode="brackets")
        .sum().backward(),
    "signature_to_logsignature": lambda: sigcg.signature_to_logsignature(s, 3, 3),
    "logsignature_to_signature": lambda: sigcg.logsignature_to_signature(
        torch.randn(4, 14, dtype=torch.float64), 3, 3),
    "signature_combine (fwd+bwd)": lambda: sigcg.signature_combine(
        s.clone().requires_grad_(), s, 3, 3).sum().backward(),
    "Path query (fwd+bwd)": lambda: sigcg.Path(xg, 3).signature(2, 9).sum().backward(),
    "signature_coefficient": lambda: sigcg.signature_coefficient(x, [(0, 1), (2,)]),
}
times = {"import torch": t1 - t0, "import sigcg": t2 - t1}
gcs = {}
for name, call in calls.items():
    gc_time[0] = 0.0
    t = time.perf_counter(); call(); times[name] = time.perf_counter() - t
    gcs[name] = gc_time[0]
times["gc"] = gcs
times["torch._dynamo imported"] = float("torch._dynamo" in sys.modules)
print(json.dumps(times))
"""


def fresh_processes(reps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SIGCG_CACHE_DIR=cache, OMP_NUM_THREADS="1")
        subprocess.run(
            [sys.executable, "-c", PROCESS], env=env, check=True, capture_output=True
        )  # fills the cache
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", PROCESS],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(reps)
        ]
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "gc"}
    medians["gc"] = {k: statistics.median(r["gc"][k] for r in runs) for k in runs[0]["gc"]}
    return medians


class Trivial(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.new_empty(x.shape[0], 14)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(grad.shape[0], 10, 2)


def per_call(fn, number=5000, repeat=7) -> float:
    for _ in range(200):
        fn()
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best.append((time.perf_counter() - t) / number)
    return statistics.median(best)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5, help="fresh processes (default 5)")
    args = parser.parse_args()
    times = fresh_processes(args.reps)
    gcs = times.pop("gc")
    print("| fresh process, warm cache | ms | of which cyclic GC, ms |\n|---|---|---|")
    for name, t in times.items():
        value = (
            "yes"
            if name.endswith("imported") and t
            else ("no" if name.endswith("imported") else f"{t * 1e3:.1f}")
        )
        gc_ms = f"{gcs[name] * 1e3:.1f}" if name in gcs else ""
        print(f"| {name} | {value} | {gc_ms} |")

    import sigcg

    torch.set_num_threads(1)
    sigcg.set_num_threads(1)
    x = torch.randn(1, 10, 2, dtype=torch.float64)
    xg = x.clone().requires_grad_()
    fwd = per_call(lambda: sigcg.signature(x, 3))
    both = per_call(lambda: sigcg.signature(xg, 3).sum().backward())
    floor = per_call(lambda: Trivial.apply(xg).sum().backward())
    print(
        f"\nwarm per call, (1, 10, 2, 3) float64, single thread: forward {fwd * 1e6:.1f} us; "
        f"forward + .sum().backward() {both * 1e6:.1f} us, trivial autograd.Function "
        f"{floor * 1e6:.1f} us ({both / floor:.2f}x the floor)"
    )


if __name__ == "__main__":
    main()
