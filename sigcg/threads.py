"""How many threads the CPU kernels split a batch over (the ``n_jobs`` setting)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_num_threads: int | None = None
_executor: ThreadPoolExecutor | None = None
_executor_size = 0


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for CPU kernels (``-1``: all cores; default: torch's thread count)."""
    global _num_threads
    if n == -1:
        n = os.cpu_count() or 1
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"number of threads must be a positive integer or -1, got {n!r}")
    _num_threads = n


def get_num_threads() -> int:
    if _num_threads is not None:
        return _num_threads
    import torch

    return max(1, torch.get_num_threads())


def executor(n: int) -> ThreadPoolExecutor:
    global _executor, _executor_size
    if _executor is None or _executor_size < n:
        if _executor is not None:
            _executor.shutdown(wait=False)
        _executor = ThreadPoolExecutor(max_workers=n, thread_name_prefix="sigcg")
        _executor_size = n
    return _executor
