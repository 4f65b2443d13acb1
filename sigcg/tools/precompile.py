"""Build kernels ahead of time (container builds, before cluster jobs) and export caches."""

from __future__ import annotations

import concurrent.futures as cf
import functools
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import codegen
from ..codegen.cli import DTYPE_ALIASES


def operations() -> dict[str, tuple[str, ...]]:
    """User-level operation names (``--ops``) -> the kernel ops each needs, from the kernel
    descriptors' precompile groups (each kernel module holds its backward too)."""
    groups: dict[str, list[str]] = {}
    for name, kernel in codegen.REGISTRY.items():
        for group in kernel.precompile:
            groups.setdefault(group, []).append(name)
    return {group: tuple(names) for group, names in sorted(groups.items())}


DEVICES = ("cpu", "cuda")


@dataclass
class PrecompileReport:
    compiled: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)  # entry directories, for --export
    interrupted: bool = False

    def summary(self) -> str:
        text = (
            f"{len(self.compiled)} compiled, {len(self.cached)} already cached, "
            f"{len(self.failed)} failed"
        )
        for name, reason in self.failed:
            first_line = reason.strip().splitlines()[0] if reason.strip() else "?"
            text += f"\n  FAILED {name}: {first_line}"
        if self.interrupted:
            text += "\n  interrupted: every kernel finished so far is in the cache; rerun to finish"
        return text


@dataclass(frozen=True)
class Job:
    spec: codegen.KernelSpec
    arch: str | None = None  # CUDA: the architecture to compile for, e.g. "sm_90"


def plan(
    channels,
    depths,
    dtypes=("float32", "float64"),
    ops=("signature",),
    devices=("cpu",),
    archs=("sm_80", "sm_90"),
) -> list[Job]:
    """The kernels a precompile request stands for; raises on unknown names.  On CUDA the
    launcher picks shared or global state by the device's shared memory, so kernels are built in
    every variant the op has, for every architecture in ``archs``."""
    for device in devices:
        if device not in DEVICES:
            raise ValueError(f"device {device!r} has no kernels; use {' or '.join(DEVICES)}")
    groups = operations()
    unknown = [op for op in ops if op not in groups]
    if unknown:
        raise ValueError(f"unknown operation(s) {unknown}; available: {sorted(groups)}")
    bad_dtypes = [dt for dt in dtypes if dt not in DTYPE_ALIASES]
    if bad_dtypes:
        raise ValueError(f"unknown dtype(s) {bad_dtypes}; use f32, f64, float32 or float64")
    bad_archs = [a for a in archs if not (a.startswith("sm_") and a[3:].isdigit())]
    if "cuda" in devices and (bad_archs or not archs):
        raise ValueError(f"architectures must look like sm_90, got {list(archs)}")
    kernels = list(dict.fromkeys(k for op in ops for k in groups[op]))
    jobs = []
    for name in kernels:
        kernel = codegen.REGISTRY[name]
        for dt in dtypes:
            for d in channels:
                for n in depths:
                    wanted = [
                        (None, "cpu", v)
                        for v in kernel.cpu_variants[:1]
                        if "cpu" in devices and kernel.has_target("cpu")
                    ] + [
                        (arch, "cuda", v)
                        for v in kernel.cuda_variants
                        for arch in archs
                        if "cuda" in devices and kernel.has_target("cuda")
                    ]
                    for arch, target, variant in wanted:
                        try:
                            spec = codegen.KernelSpec(
                                name, d, n, DTYPE_ALIASES[dt], target, variant
                            )
                        except ValueError:
                            continue  # e.g. the Lyndon kernel below depth 2: never needed
                        jobs.append(Job(spec, arch))
    return jobs


def spec_name(job: Job) -> str:
    spec = job.spec
    where = f", {job.arch} {spec.variant}" if job.arch else ""
    return f"{spec.op}(d={spec.d}, N={spec.N}, {spec.dtype}{where})"


def _build_in_worker(job: Job) -> tuple[bool, float, str]:
    start = time.perf_counter()
    if job.arch is not None:
        from ..runtime.cuda import find_or_build_cubin

        entry, built = find_or_build_cubin(job.spec, job.arch)
    else:
        from ..runtime.cpu import find_or_build

        entry, built = find_or_build(job.spec)
    return built, time.perf_counter() - start, str(entry.path)


def _record(report: PrecompileReport, bar, job: Job, result) -> None:
    """Run ``result()`` (a build's outcome) into the report and the progress bar; a compile
    error is reported and the rest goes on."""
    name = spec_name(job)
    try:
        built, seconds, entry = result()
    except Exception as exc:
        report.failed.append((name, f"{type(exc).__name__}: {exc}"))
        status = "FAILED"
    else:
        (report.compiled if built else report.cached).append(name)
        report.entries.append(entry)
        status = f"{'compiled' if built else 'cached'} {seconds:.1f}s"
    if bar is not None:
        bar.set_postfix_str(f"{name} {status}; cache hits {len(report.cached)}")
        bar.update()


def precompile(
    channels,
    depths,
    dtypes=("float32", "float64"),
    ops=("signature",),
    devices=("cpu",),
    jobs: int | None = None,
    export: str | os.PathLike | None = None,
    progress: bool = True,
    archs=("sm_80", "sm_90"),
) -> PrecompileReport:
    """Generate and compile every requested kernel into the cache, ``jobs`` processes at once.

    Interrupting it (Ctrl-C) leaves a valid cache: entries are published atomically, so a kernel
    is either complete or absent.  ``export`` copies the requested kernels into a self-contained
    cache directory that another machine of the same platform can use read-only (set
    ``SIGCG_CACHE_DIR`` to it), even without a C compiler.  ``devices`` may include "cuda":
    cubins for ``archs``, compiled with NVRTC (no GPU needed; the GPU's NVRTC version must match
    at run time, as it is part of the key).
    """
    work = plan(channels, depths, dtypes, ops, devices, archs)
    jobs = max(1, jobs or os.cpu_count() or 1)
    report = PrecompileReport()
    # Largest kernels first: they bound the wall time, small ones fill the gaps.
    work.sort(key=lambda job: -job.spec.kernel.op_counts(job.spec)["fma"])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(work), unit="kernel", desc="precompile")
    pool = None
    if jobs == 1 or len(work) <= 1:
        # No pool: spawning one costs seconds (a fresh interpreter imports torch), more than
        # a few kernels take, and nothing when they are all cached already.
        outcomes: Iterable = ((job, functools.partial(_build_in_worker, job)) for job in work)
    else:
        ctx = multiprocessing.get_context("spawn")  # no forking a process holding torch threads
        pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
        futures = {pool.submit(_build_in_worker, job): job for job in work}
        outcomes = ((futures[f], f.result) for f in cf.as_completed(futures))
    try:
        for job, result in outcomes:
            _record(report, bar, job, result)
    except KeyboardInterrupt:
        report.interrupted = True
        if pool is not None:
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in workers:
                proc.terminate()  # a half-built kernel lives in tmp/ only, never in kernels/
    finally:
        if pool is not None:
            pool.shutdown(wait=not report.interrupted, cancel_futures=True)
        if bar is not None:
            bar.close()
    if export is not None and not report.interrupted:
        export_entries(report.entries, Path(export))
    return report


def export_entries(entry_dirs, destination: Path) -> None:
    """Copy cache entries into ``destination/kernels`` (each copied whole, then renamed in).

    The export is meant to be read by other users (a container image, a cluster), and sigcg
    refuses a cache that anyone but its owner could write: its directories are made 0755 and
    its files 0644 whatever the umask."""
    destination = Path(destination).absolute()
    kernels = destination / "kernels"
    for sub in ("kernels", "locks", "tmp"):
        (destination / sub).mkdir(parents=True, exist_ok=True)
        (destination / sub).chmod(0o755)
    destination.chmod(0o755)
    for entry in map(Path, entry_dirs):
        target = kernels / entry.name
        if target.exists():
            continue
        staging = Path(tempfile.mkdtemp(dir=destination / "tmp"))
        shutil.copytree(entry, staging / entry.name)
        for path in [staging / entry.name, *(staging / entry.name).rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        os.replace(staging / entry.name, target)
        shutil.rmtree(staging, ignore_errors=True)


def parse_range(text: str) -> list[int]:
    """'2-6' -> [2..6]; '2,4,7' -> [2, 4, 7]; '3' -> [3]."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            if lo > hi:
                raise ValueError(f"empty range {part!r}")
            values.extend(range(lo, hi + 1))
        else:
            values.append(int(part))
    if not values or min(values) < 1:
        raise ValueError(f"{text!r} must name integers >= 1")
    return values
