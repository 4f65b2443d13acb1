"""The benchmarks' timers: medians of wall-clock time on the CPU, of CUDA events on a GPU.

A module of its own (no sigcg, no staging) so every benchmark script imports it, gpu_check.py
included.
"""

from __future__ import annotations

import statistics
import time


def median_time(fn, budget_s: float, min_reps: int = 3, max_reps: int = 50) -> float:
    """Median seconds of ``fn()``: one warm-up call (and any compile) first, then at least
    ``min_reps`` calls, more while ``budget_s`` lasts, at most ``max_reps``."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (
        time.perf_counter() - start < budget_s and len(times) < max_reps
    ):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cuda_time(fn, reps: int = 10, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` by CUDA events on the current stream."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)
