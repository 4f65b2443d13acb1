"""Signatures, log-signatures and signature-kernel Grams of dask arrays (``pip install
"sigcg[dask]"``; imported only by ``import sigcg.dask``).

A batch of paths is a dask array of shape (batch, length, channels) chunked along the batch axis
only; every chunk is one sigcg call on one worker (``map_blocks``; a Gram is one call per pair of
chunks, ``blockwise``).  Kernels are compiled once, on the client, into an exported cache that
every worker reads without writing, so workers never run a compiler::

    from dask.distributed import Client, LocalCluster
    import dask.array as da
    import sigcg.dask

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    cache = sigcg.dask.prepare("/shared/sigcg-kernels", channels=[4], depths=[4],
                               dtypes=["float32"])      # compiles here, once
    sigcg.dask.use_cache(client, cache)                 # every worker (and later ones) reads it
    x = da.random.standard_normal((20000, 100, 4), chunks=(1000, 100, 4)).astype("float32")
    sig = sigcg.dask.signature(x, 4)                    # (20000, 340), chunked like x
    sig.compute()

The exported directory must be readable by the workers' user and, for workers on other
machines, on a filesystem they share (a copy per machine works as well: same platform and CPU).
See the documentation's "Scale-out" page for what the cache guarantees on shared filesystems.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

import sigcg

__all__ = [
    "KernelCachePlugin",
    "logsignature",
    "prepare",
    "sig_kernel_gram",
    "signature",
    "use_cache",
]

_OPS = ("signature", "logsignature", "sig_kernel")


def prepare(
    directory: str | os.PathLike,
    channels: Sequence[int],
    depths: Sequence[int] = (),
    dtypes: Sequence[str] = ("float32", "float64"),
    ops: Sequence[str] = _OPS,
    jobs: int | None = None,
) -> Path:
    """Compile the kernels of ``ops`` for every (channels, depth, dtype) into the local kernel
    cache and export them to ``directory``; returns it as an absolute path.

    ``ops`` are :func:`sigcg.precompile`'s operation names ("signature", "logsignature",
    "sig_kernel", ...).  Signature kernels (``sig_kernel``) take no depth and are compiled for
    every channel count whatever ``depths`` says.  Kernels already in the local cache are
    exported without compiling.  Raises RuntimeError naming any kernel that failed to compile.
    """
    directory = Path(directory).absolute()
    ops = tuple(ops)
    deep = tuple(op for op in ops if op != "sig_kernel")
    groups = []
    if deep:
        if not depths:
            raise ValueError(f"depths is needed for {', '.join(deep)}")
        groups.append((deep, list(depths)))
    if "sig_kernel" in ops:
        groups.append((("sig_kernel",), [1]))
    for group_ops, group_depths in groups:
        report = sigcg.precompile(
            list(channels),
            group_depths,
            dtypes=tuple(dtypes),
            ops=group_ops,
            jobs=jobs,
            export=directory,
            progress=False,
        )
        if report.failed or report.interrupted:
            raise RuntimeError(f"sigcg.dask.prepare: {report.summary()}")
    return directory


class KernelCachePlugin:
    """A dask ``WorkerPlugin`` that points a worker's sigcg at an exported kernel cache and sets
    its thread count: registered by :func:`use_cache`, it runs on every worker, including
    workers that join later."""

    name = "sigcg-kernel-cache"

    def __init__(self, directory: str | os.PathLike, threads: int = 1):
        self.directory = str(Path(directory).absolute())
        self.threads = threads

    def setup(self, worker: Any = None) -> None:
        from sigcg.runtime import cpu
        from sigcg.runtime.cache import KernelCache

        os.environ["SIGCG_CACHE_DIR"] = self.directory  # processes this worker starts
        cpu.cache = KernelCache(self.directory)  # the root is fixed at first use: set it anew
        sigcg.set_num_threads(self.threads)

    def teardown(self, worker: Any = None) -> None:
        pass


def use_cache(client: Any, directory: str | os.PathLike, threads: int = 1) -> None:
    """Make every worker of ``client`` (now and later) load kernels from ``directory`` (made by
    :func:`prepare`) and run ``threads`` sigcg threads per task (1: one task per core, the usual
    layout of ``threads_per_worker=1`` workers)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin = type("SigcgKernelCache", (KernelCachePlugin, WorkerPlugin), {})(directory, threads)
    client.register_plugin(plugin, name=KernelCachePlugin.name)


def _check_batch_chunks(x: da.Array, name: str) -> da.Array:
    if not isinstance(x, da.Array):
        raise TypeError(f"{name} must be a dask array, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (batch, length, channels), got {x.shape}")
    if len(x.chunks[1]) > 1 or len(x.chunks[2]) > 1:
        x = x.rechunk({1: -1, 2: -1})  # a path must be whole inside its chunk
    return x


def _signature_block(block: np.ndarray, depth: int, kwargs: dict) -> np.ndarray:
    return np.asarray(sigcg.signature(np.ascontiguousarray(block), depth, **kwargs))


def _logsignature_block(block: np.ndarray, depth: int, kwargs: dict) -> np.ndarray:
    return np.asarray(sigcg.logsignature(np.ascontiguousarray(block), depth, **kwargs))


def _gram_block(xb: np.ndarray, yb: np.ndarray, kwargs: dict) -> np.ndarray:
    return np.asarray(
        sigcg.sig_kernel_gram(np.ascontiguousarray(xb), np.ascontiguousarray(yb), **kwargs)
    )


def _per_path(x: da.Array, fn, depth, width, stream, points, kwargs, name):
    if stream:
        chunks: tuple = (x.chunks[0], (points,), (width,))
        return x.map_blocks(fn, depth, kwargs, chunks=chunks, dtype=x.dtype, name=name)
    chunks = (x.chunks[0], (width,))
    return x.map_blocks(fn, depth, kwargs, chunks=chunks, drop_axis=2, dtype=x.dtype, name=name)


def signature(
    x: da.Array,
    depth: int,
    *,
    stream: bool = False,
    basepoint: bool = False,
    inverse: bool = False,
    scalar_term: bool = False,
    name: str | None = None,
) -> da.Array:
    """:func:`sigcg.signature` of every path of ``x``, one task per chunk of the batch axis.

    Args:
        x: (batch, length, channels) dask array of float32 or float64; chunks along the batch
            axis (other axes are rechunked whole).
        depth, stream, basepoint, inverse, scalar_term: as for :func:`sigcg.signature`
            (``basepoint`` True or False: a per-path basepoint would need chunking like ``x``).
        name: the output's dask name (default: a deterministic hash of the inputs).

    Returns:
        (batch, signature_channels(channels, depth, scalar_term)), or with ``stream``
        (batch, length - 1 (+1 with a basepoint), that), chunked like ``x`` along the batch.
    """
    x = _check_batch_chunks(x, "x")
    width = sigcg.signature_channels(x.shape[2], depth, scalar_term)
    kwargs = dict(stream=stream, basepoint=basepoint, inverse=inverse, scalar_term=scalar_term)
    points = x.shape[1] - 1 + bool(basepoint)
    return _per_path(x, _signature_block, depth, width, stream, points, kwargs, name)


def logsignature(
    x: da.Array,
    depth: int,
    *,
    stream: bool = False,
    basepoint: bool = False,
    inverse: bool = False,
    mode: str = "words",
    name: str | None = None,
) -> da.Array:
    """:func:`sigcg.logsignature` of every path of ``x``, one task per chunk of the batch axis.

    Args:
        x: (batch, length, channels) dask array, chunked along the batch axis.
        depth, stream, basepoint, inverse, mode: as for :func:`sigcg.logsignature`.
        name: the output's dask name (default: a deterministic hash of the inputs).

    Returns:
        (batch, logsignature_channels(channels, depth)) ("expand": signature_channels), or
        with ``stream`` (batch, length - 1 (+1 with a basepoint), that).
    """
    x = _check_batch_chunks(x, "x")
    d = x.shape[2]
    width = (
        sigcg.signature_channels(d, depth)
        if mode == "expand"
        else sigcg.logsignature_channels(d, depth)
    )
    kwargs = dict(stream=stream, basepoint=basepoint, inverse=inverse, mode=mode)
    points = x.shape[1] - 1 + bool(basepoint)
    return _per_path(x, _logsignature_block, depth, width, stream, points, kwargs, name)


def sig_kernel_gram(
    x: da.Array,
    y: da.Array | None = None,
    *,
    dyadic_order: int | tuple[int, int] = 0,
    static_kernel: Any = None,
    name: str | None = None,
) -> da.Array:
    """:func:`sigcg.sig_kernel_gram` of two batches, one task per pair of batch chunks.

    Args:
        x: (Bx, Lx, channels) dask array; y: (By, Ly, channels) dask array, or None for the Gram
            of ``x`` with itself (every block is computed, both halves of a symmetric Gram).
        dyadic_order, static_kernel: as for :func:`sigcg.sig_kernel`.
        name: the output's dask name (default: a deterministic hash of the inputs).

    Returns:
        (Bx, By), chunked like ``x`` along rows and like ``y`` along columns.
    """
    x = _check_batch_chunks(x, "x")
    y = x if y is None else _check_batch_chunks(y, "y")
    kwargs: dict[str, Any] = dict(dyadic_order=dyadic_order)
    if static_kernel is not None:
        kwargs["static_kernel"] = static_kernel
    dtype = np.result_type(x.dtype, y.dtype)
    return da.blockwise(
        _gram_block,
        "ij",
        x,
        "iab",
        y,
        "jcd",  # not "jab": the lengths of x and y may differ
        kwargs,
        None,
        dtype=dtype,
        concatenate=True,
        name=name,
    )
