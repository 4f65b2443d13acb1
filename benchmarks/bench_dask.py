"""sigcg.dask on a LocalCluster: 1 worker against 2, one thread each, on one batch.

    python benchmarks/bench_dask.py [--batch 20000] [--length 100] [--channels 4] [--depth 4,6]
                                    [--chunks 20] [--reps 5] [--out docs/benchmarks]

The batch is generated on the workers and persisted there before timing, so the times are the
signature tasks (plus the scheduler's overhead), not the transfer of the input.  Both clusters
run side by side and their runs alternate, so that load from elsewhere hits both alike.  Two
numbers per cluster: ``persist`` (results stay on the workers, as when they feed further dask
work) and ``compute`` (results gathered into the client).  Kernels come from an export made
once by ``sigcg.dask.prepare``; every worker's compile count is reported (it must be 0).  For
reference it also times the same batch in this process with sigcg's own threads (1 and 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path


def count_compiles():
    from sigcg.runtime import cpu

    real = cpu.compile_extension
    counter = {"n": 0}

    def counted(*args, **kwargs):
        counter["n"] += 1
        return real(*args, **kwargs)

    cpu.compile_extension = counted
    cpu._bench_counter = counter  # type: ignore[attr-defined]


def compiled():
    from sigcg.runtime import cpu

    return cpu._bench_counter["n"]  # type: ignore[attr-defined]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=20000)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--depth", default="4,6", help="depths, comma-separated")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", help="write dask.md here")
    args = parser.parse_args()

    B, L, d = args.batch, args.length, args.channels
    depths = [int(n) for n in args.depth.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = "\n".join(
        [
            f"`benchmarks/bench_dask.py`: a ({B}, {L}, {d}) float32 batch generated and persisted "
            f"on the workers, {args.chunks} chunks of {-(-B // args.chunks)} paths, LocalCluster "
            f"workers of one thread each, median of {args.reps}; {os.cpu_count()} cores, load "
            f"average {load:.1f} when it started.",
            "",
            "| depth | | 1 worker | 2 workers | speed-up |",
            "|---|---|---|---|---|",
        ]
    )
    notes = []
    for N in depths:
        one, two, local = run_depth(args, B, L, d, N)
        text += (
            f"\n| {N} | persist (results stay on the workers) | {one['persist'] * 1e3:.0f} ms | "
            f"{two['persist'] * 1e3:.0f} ms | {one['persist'] / two['persist']:.2f}x |"
            f"\n| {N} | compute (results gathered to the client) | {one['compute'] * 1e3:.0f} ms | "
            f"{two['compute'] * 1e3:.0f} ms | {one['compute'] / two['compute']:.2f}x |"
            f"\n| {N} | compiles on the workers | {one['compiles']} | {two['compiles']} | |"
        )
        notes.append(
            f"depth {N}: {local[1] * 1e3:.0f} ms on 1 thread, {local[2] * 1e3:.0f} ms on 2 "
            f"threads ({local[1] / local[2]:.2f}x)"
        )
    text += "\n\nThe same batch in one process, one sigcg call: " + "; ".join(notes) + ".\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "dask.md").write_text(
            f"<!-- written by benchmarks/bench_dask.py --out {args.out} -->\n\n"
            f"Measured {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}.\n\n" + text
        )


def run_depth(args, B, L, d, N):
    import dask.array as da
    import torch
    from distributed import Client, LocalCluster, wait

    import sigcg
    import sigcg.dask

    shape = (B, L, d)
    rows = -(-B // args.chunks)
    export = sigcg.dask.prepare(
        Path(tempfile.mkdtemp()) / "kernels",
        channels=[d],
        depths=[N],
        dtypes=["float32"],
        ops=("signature",),
    )
    # Both clusters live side by side and their runs alternate, so that load from elsewhere on
    # the machine hits both alike (an idle cluster costs next to nothing).
    with ExitStack() as stack:
        clients, xs = {}, {}
        for workers in (1, 2):
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,
                )
            )
            client = clients[workers] = stack.enter_context(Client(cluster, set_as_default=False))
            sigcg.dask.use_cache(client, export, threads=1)
            client.run(count_compiles)
            rng = da.random.default_rng(0)
            x = (rng.standard_normal(shape, chunks=(rows, L, d), dtype="float32") / L**0.5).cumsum(
                axis=1
            )
            xs[workers] = x = client.persist(x)
            with client.as_current():
                wait(x)
            client.compute(sigcg.dask.signature(x, N)).result()  # warm-up: kernels loaded
        fresh = iter(range(10**6))  # a new output name per run: nothing cached by dask
        times: dict = {(w, k): [] for w in (1, 2) for k in ("persist", "compute")}
        for _ in range(args.reps):
            for workers in (1, 2):
                client, x = clients[workers], xs[workers]
                t0 = time.perf_counter()
                with client.as_current():  # wait() asks for the current client
                    wait(client.persist(sigcg.dask.signature(x, N, name=f"sig-{next(fresh)}")))
                t1 = time.perf_counter()
                client.compute(sigcg.dask.signature(x, N, name=f"sig-{next(fresh)}")).result()
                t2 = time.perf_counter()
                times[workers, "persist"].append(t1 - t0)
                times[workers, "compute"].append(t2 - t1)
        results = {
            w: dict(
                persist=statistics.median(times[w, "persist"]),
                compute=statistics.median(times[w, "compute"]),
                compiles=sum(clients[w].run(compiled).values()),
            )
            for w in (1, 2)
        }
        xn = clients[2].compute(xs[2]).result()
    torch.set_num_threads(1)
    local = {}
    for _ in range(args.reps):
        for threads in (1, 2):
            sigcg.set_num_threads(threads)
            t0 = time.perf_counter()
            sigcg.signature(xn, N)
            local.setdefault(threads, []).append(time.perf_counter() - t0)
    local = {k: statistics.median(v) for k, v in local.items()}

    return results[1], results[2], local


if __name__ == "__main__":
    main()
