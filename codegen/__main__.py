"""Command line of the generator (no torch needed).

    python -m sigcg.codegen show --op signature_forward --channels 3 --depth 4 --dtype float64
    python -m sigcg.codegen generate generated/      # the checked-in showcase set
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .renderer import render
from .spec import OPS, PATHWISE_OPS, TARGETS, VARIANTS, KernelSpec

# The shapes checked in under generated/: small enough to read, covering both code shapes
# (fully unrolled and looped levels), both dtypes and both directions.
SHOWCASE = [(2, 3, "float64"), (3, 4, "float32"), (4, 6, "float64")]
SHOWCASE_CUDA = [(3, 4, "float32", "shared"), (4, 6, "float64", "global")]
SHOWCASE_CUDA_ALGEBRA = [(3, 4, "float32")]  # product, log, exp: one module each with backward


def showcase_specs() -> list[KernelSpec]:
    return ([KernelSpec(op, d, n, dtype) for d, n, dtype in SHOWCASE for op in OPS] +
            [KernelSpec(op, d, n, dtype, target="cuda", variant=variant)
             for d, n, dtype, variant in SHOWCASE_CUDA
             for op in ("signature_forward", "signature_backward")] +
            [KernelSpec(op, d, n, dtype, target="cuda", variant="global")
             for d, n, dtype in SHOWCASE_CUDA_ALGEBRA
             for op in ("tensor_product", "tensor_log", "tensor_exp")])


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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sigcg.codegen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the generated source of one kernel")
    show.add_argument("--op", choices=OPS, default="signature_forward")
    show.add_argument("--channels", type=int, required=True)
    show.add_argument("--depth", type=int, required=True)
    show.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    show.add_argument("--target", choices=list(TARGETS), default="cpu")
    show.add_argument("--variant", default=None,
                      help="cpu: auto|loops|unrolled (auto); cuda: shared|global (shared; "
                           "global for the tensor-algebra ops)")
    gen = sub.add_parser("generate", help="write the showcase kernels into a directory")
    gen.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "show":
        variant = args.variant or (
            "global" if args.target == "cuda" and args.op in PATHWISE_OPS
            else VARIANTS[args.target][0])
        print(render(KernelSpec(args.op, args.channels, args.depth, args.dtype,
                                target=args.target, variant=variant)), end="")
    else:
        for path in generate(args.outdir):
            print(path)


if __name__ == "__main__":
    main()
