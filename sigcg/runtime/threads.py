"""How many threads the CPU kernels split a batch over (the ``n_jobs`` setting), and the pool
that runs them.

The pool is replaced, never shut down under a caller: a call that picked the old pool keeps
using it (it is only dropped, and its idle threads exit when it is garbage), so changing the
thread count while other threads run kernels cannot fail their calls.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_num_threads: int | None = None
_torch_threads = 1  # torch's thread count when last read eagerly
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for CPU kernels (``-1``: all cores; default: torch's thread count)."""
    global _num_threads
    if n == -1:
        n = os.cpu_count() or 1
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of threads must be a positive integer or -1, got {n!r}")
    _num_threads = n


def get_num_threads() -> int:
    """Threads the CPU kernels use: set_num_threads's value, else torch's thread count (as last
    read outside torch.compile, whose tracing cannot call torch.get_num_threads)."""
    global _torch_threads
    if _num_threads is not None:
        return _num_threads
    import torch

    if not torch.compiler.is_compiling():
        _torch_threads = max(1, torch.get_num_threads())
    return _torch_threads


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] < n:
            _pool = (n, ThreadPoolExecutor(max_workers=n, thread_name_prefix="sigcg"))
        return _pool[1]


def run_parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]`` on the pool, in order."""
    return list(_executor(get_num_threads()).map(fn, items))
