"""Measure the generator's code-shape choices (codegen/schedule.py) on this machine.

    python benchmarks/schedule_experiments.py --variant auto --block 1,2,4,8
    python benchmarks/schedule_experiments.py --variant loops --variant auto

For every shape of the reference grid and every choice it prints the compile time and the
forward kernel's single-thread time and GFLOP/s (raw kernel call, no Python around it).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sigcg.codegen import KernelSpec, schedule
from sigcg.runtime import cpu

GRID = [
    (128, 256, 4, 6, "float64"),
    (32, 128, 8, 5, "float32"),
    (32, 128, 4, 6, "float64"),
    (256, 1000, 4, 3, "float32"),
    (1024, 64, 2, 8, "float64"),
    (128, 100, 3, 4, "float32"),
]


def measure(shape, variant: str, vector_bytes: int, reps: int = 7):
    B, L, d, N, dtype = shape
    spec = KernelSpec("signature_forward", d, N, dtype, variant=variant, vector_bytes=vector_bytes)
    t0 = time.perf_counter()
    kernel = cpu.load(spec)
    compile_s = time.perf_counter() - t0
    x = (torch.randn(B, L, d, dtype=getattr(torch, dtype)) * 0.1).cumsum(1)
    out = torch.empty(B, spec.sig_channels, dtype=x.dtype)
    forward = kernel.functions["signature_forward"]
    args = (x.data_ptr(), 0, out.data_ptr(), B, L, 0, 0, B)  # path, initial, out, ..., range
    forward(*args)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        forward(*args)
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    return compile_s, median, 2 * kernel.fma * B * (L - 1) / median / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", action="append", default=None)
    parser.add_argument("--block", default=str(schedule.BLOCK_STEPS))
    parser.add_argument("--vector-bytes", default="32")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| shape | variant | vector bytes | block | compile s | forward ms | GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for shape in GRID:
        for variant in args.variant or ["auto"]:
            for vb in map(int, args.vector_bytes.split(",")):
                for block in map(int, args.block.split(",")):
                    schedule.BLOCK_STEPS = block
                    c, t, gf = measure(shape, variant, vb)
                    print(
                        f"| {shape} | {variant} | {vb} | {block} | {c:.2f} | {t * 1e3:.2f} | "
                        f"{gf:.1f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
