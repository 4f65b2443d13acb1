"""The generator's command line, one vocabulary for every kernel op (no torch needed).

    python -m sigcg show --op signature_forward --channels 3 --depth 4 --dtype f64
    python -m sigcg show --list                      # every op, its targets and variants
    python -m sigcg.codegen generate generated/      # the checked-in showcase set

python -m sigcg show and python -m sigcg.codegen show are the same command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .kernels import REGISTRY
from .renderer import render
from .spec import KernelSpec

DTYPE_ALIASES = {"f32": "float32", "float32": "float32", "f64": "float64", "float64": "float64"}
DEVICES = {"cpu": "cpu", "cuda": "cuda", "cuda-emulated": "cuda_emulated"}


def show_command(spec: KernelSpec) -> str:
    """The command that prints ``spec``'s source (the provenance header's Regenerate line)."""
    device = {v: k for k, v in DEVICES.items()}[spec.target]
    return (
        f"python -m sigcg show --op {spec.op} --channels {spec.d} --depth {spec.N} "
        f"--dtype {spec.dtype} --device {device} --variant {spec.variant}"
    )


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--op", help="a kernel op (see --list)")
    parser.add_argument("--channels", type=int, help="channels d")
    parser.add_argument("--depth", type=int, help="depth N")
    parser.add_argument(
        "--dtype", default="f64", choices=sorted(DTYPE_ALIASES), help="element type (default f64)"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        choices=list(DEVICES),
        help="cpu (default), cuda, or cuda-emulated (the CUDA kernel as C)",
    )
    parser.add_argument(
        "--variant", default=None, help="code shape; default: the op's first variant for the device"
    )
    parser.add_argument("--list", action="store_true", help="list the kernel ops and exit")


def list_ops() -> str:
    lines = []
    for name, kernel in REGISTRY.items():
        targets = [
            f"{dev} ({', '.join(kernel.variants(target))})"
            for dev, target in DEVICES.items()
            if kernel.has_target(target)
        ]
        lines.append(
            f"{name}\n    {kernel.summary}\n    devices: {'; '.join(targets)}\n"
            f"    entry points: {', '.join(e.name for e in kernel.entries)}"
        )
    return "\n".join(lines)


def run_show(args: argparse.Namespace) -> int:
    if args.list:
        print(list_ops())
        return 0
    missing = [
        flag
        for flag, value in (
            ("--op", args.op),
            ("--channels", args.channels),
            ("--depth", args.depth),
        )
        if value is None
    ]
    if missing:
        print(f"sigcg show: {', '.join(missing)} required (or --list)", file=sys.stderr)
        return 2
    if args.op not in REGISTRY:
        print(
            f"sigcg show: unknown op {args.op!r}; available: {', '.join(REGISTRY)}", file=sys.stderr
        )
        return 2
    target = DEVICES[args.device]
    variants = REGISTRY[args.op].variants(target)
    if not variants:
        print(f"sigcg show: {args.op} has no {args.device} form", file=sys.stderr)
        return 2
    try:
        spec = KernelSpec(
            args.op,
            args.channels,
            args.depth,
            DTYPE_ALIASES[args.dtype],
            target=target,
            variant=args.variant or variants[0],
        )
    except ValueError as exc:
        print(f"sigcg show: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(spec))
    return 0


def showcase_specs() -> list[KernelSpec]:
    return [
        KernelSpec(name, d, n, dtype, target=target, variant=variant)
        for name, kernel in REGISTRY.items()
        for d, n, dtype, target, variant in kernel.showcase
    ]


def showcase_filename(spec: KernelSpec) -> str:
    if spec.target == "cuda":
        return f"{spec.op}_d{spec.d}_n{spec.N}_{spec.dtype}_{spec.variant}.cu"
    return f"{spec.op}_d{spec.d}_n{spec.N}_{spec.dtype}.c"


def generate(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in showcase_specs():
        path = outdir / showcase_filename(spec)
        path.write_text(render(spec))
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sigcg.codegen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_show_arguments(sub.add_parser("show", help="print the generated source of one kernel"))
    gen = sub.add_parser("generate", help="write the showcase kernels into a directory")
    gen.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "show":
        return run_show(args)
    for path in generate(args.outdir):
        print(path)
    return 0
