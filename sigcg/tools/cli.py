"""sigcg's command line (sigcg, or python -m sigcg): demo, precompile, cache maintenance, and
the generated source of any kernel.

  sigcg demo                                   compute and check signatures of an example path
  sigcg precompile --channels 2-6 --depth 2-6  build kernels ahead of time (--export DIR)
  sigcg cache info|list|verify|clear           inspect and maintain the kernel cache
  sigcg show --op signature_forward --channels 3 --depth 4    print a generated kernel
  sigcg show --list                            every kernel op, its devices and variants
"""

from __future__ import annotations

import argparse
import sys
import time


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def cmd_precompile(args) -> int:
    from .precompile import operations, parse_range, precompile

    if args.list_ops:
        for name, kernels in operations().items():
            print(f"{name}: {', '.join(kernels)}")
        return 0
    report = precompile(
        parse_range(args.channels),
        parse_range(args.depth),
        dtypes=args.dtype.split(","),
        ops=args.ops.split(","),
        devices=args.device.split(","),
        jobs=args.jobs,
        export=args.export,
        progress=not args.quiet,
        archs=args.arch.split(","),
    )
    print(report.summary())
    if args.export and not report.interrupted:
        print(
            f"exported {len(report.entries)} kernel(s) to {args.export}: "
            f"SIGCG_CACHE_DIR={args.export} uses them (read-only is fine)"
        )
    return 130 if report.interrupted else (1 if report.failed else 0)


def cmd_cache(args) -> int:
    from ..runtime.cache import TRUSTED_UIDS_ENV, disk_usage
    from ..runtime.cpu import cache

    root = cache.root
    untrusted_root = cache.check_root()
    rows = [] if untrusted_root else cache.scan()
    bad = [path for path, _, problem in rows if problem.startswith("bad")]
    foreign = [(path, problem) for path, _, problem in rows if problem.startswith("untrusted")]
    if args.action == "info":
        from ..runtime.compiler import platform_tag, toolchain_or_none

        tc = toolchain_or_none()
        print(f"cache directory: {root}{'' if root.exists() else ' (not created yet)'}")
        if untrusted_root:
            print(
                f"NOT TRUSTED: {untrusted_root}; nothing in it is loaded (see {TRUSTED_UIDS_ENV})"
            )
        print(
            f"trusted owners: uids {', '.join(map(str, sorted(cache.uids)))} "
            f"(this user, root, {TRUSTED_UIDS_ENV})"
        )
        print(
            f"entries: {len(rows)} ({len(bad)} bad, {len(foreign)} untrusted), "
            f"total size {_human(disk_usage(root) if root.exists() else 0)}"
        )
        print(
            f"C compiler: {tc.description if tc else 'none found'}; platform tag {platform_tag()}"
        )
        try:
            import cupy  # noqa: F401

            cupy_status = f"CuPy {cupy.__version__}"
        except ImportError:
            cupy_status = "CuPy not installed (pip install sigcg[cuda]); no CUDA kernels yet"
        print(f"CUDA: {cupy_status}")
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        print(f"GPU: {gpu}")
        return 0
    if untrusted_root:
        print(
            f"sigcg: the kernel cache {root} is not trusted: {untrusted_root}. Nothing in it is "
            f"loaded, and sigcg leaves it alone; fix its ownership or permissions, or list its "
            f"owner in {TRUSTED_UIDS_ENV} if you trust that user.",
            file=sys.stderr,
        )
        return 1
    if args.action == "list":
        now = time.time()
        print(f"{'op':<20} {'d':>3} {'N':>3} {'dtype':<8} {'size':>10} {'age':>8}  compiler")
        for path, entry, problem in rows:
            if entry is None:
                label = "UNTRUSTED" if problem.startswith("untrusted") else "BAD ENTRY"
                print(f"{label:<20} {path.name}  ({problem}; run: python -m sigcg cache verify)")
                continue
            spec = entry.meta["spec"]
            age_days = (now - entry.meta.get("created", now)) / 86400
            print(
                f"{spec.get('op', '?'):<20} {spec.get('d', '?'):>3} {spec.get('N', '?'):>3} "
                f"{spec.get('dtype', '?'):<8} {_human(disk_usage(path)):>10} {age_days:>7.1f}d  "
                f"{entry.meta.get('compiler', '?')}"
            )
        print(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} in {root}")
        return 0
    if args.action == "verify":
        for path in bad:
            problem = next(p for q, _, p in rows if q == path)
            print(f"bad entry ({problem.removeprefix('bad: ')}): {path.name} -- removed")
            cache.remove(path)
        for path, problem in foreign:
            print(
                f"untrusted entry ({problem.removeprefix('untrusted: ')}): {path.name} -- never "
                f"loaded, left in place (remove it, or list its owner in {TRUSTED_UIDS_ENV})"
            )
        good = len(rows) - len(bad) - len(foreign)
        print(
            f"verified {good} good entr{'y' if good == 1 else 'ies'}, removed {len(bad)} bad"
            + (f", {len(foreign)} untrusted" if foreign else "")
        )
        cache.clean()
        return 1 if foreign else 0
    if args.action == "clear":
        cutoff = time.time() - args.older_than * 86400 if args.older_than is not None else None
        removed = 0
        for path, entry, _ in rows:
            created = entry.meta.get("created", 0) if entry is not None else 0
            if cutoff is None or created < cutoff:
                cache.remove(path)
                removed += 1
        cache.clean()
        print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {root}")
        return 0
    return 2


def main(argv=None) -> int:
    from .. import __version__
    from ..codegen.cli import add_show_arguments, run_show

    parser = argparse.ArgumentParser(
        prog="sigcg", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"sigcg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="compute and check signatures of an embedded example")

    pre = sub.add_parser("precompile", help="build kernels into the cache ahead of time")
    pre.add_argument("--channels", default="2-6", help="e.g. 2-6 or 2,3,8 (default 2-6)")
    pre.add_argument("--depth", default="2-6", help="e.g. 2-6 (default 2-6)")
    pre.add_argument("--dtype", default="f32,f64", help="f32,f64 (default both)")
    pre.add_argument(
        "--ops",
        default="signature",
        help="comma-separated operations (default signature); see --list-ops",
    )
    pre.add_argument(
        "--list-ops",
        action="store_true",
        help="list the operations and the kernels each builds, then exit",
    )
    pre.add_argument("--device", default="cpu", help="cpu (default), cuda, or cpu,cuda")
    pre.add_argument(
        "--arch",
        default="sm_80,sm_90",
        help="with --device cuda: GPU architectures (default sm_80,sm_90)",
    )
    pre.add_argument("--jobs", type=int, default=None, help="parallel processes (default: cores)")
    pre.add_argument("--export", default=None, help="also copy the kernels into this directory")
    pre.add_argument("--quiet", action="store_true", help="no progress bar")

    cache = sub.add_parser("cache", help="inspect and maintain the kernel cache")
    cache.add_argument("action", choices=["list", "info", "verify", "clear"])
    cache.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="with clear: only entries older than this many days",
    )

    add_show_arguments(sub.add_parser("show", help="print the generated source of one kernel"))

    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import demo

        return demo()
    try:
        return {"precompile": cmd_precompile, "cache": cmd_cache, "show": run_show}[args.command](
            args
        )
    except ValueError as exc:
        print(f"sigcg: {exc}", file=sys.stderr)
        return 2
