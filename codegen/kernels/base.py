"""What every kernel op declares: the one place an op's facts live.

A kernel op is one compiled module (one C file for the CPU, one CUDA module for the GPU) with one
or more entry points.  Its descriptor says, without torch:

  * the entry points and their typed parameters: the single source of the C prototypes (CPU,
    CUDA and emulated), the cffi declarations and the order of the launch arguments, so a
    template, its declaration and its caller cannot disagree;
  * the templates per target family and the variants each target accepts;
  * ``context(spec)``: the tables and offsets its templates need, computed here in Python;
  * its operation counts (provenance headers, FLOP/s columns, threading decisions);
  * on CUDA, its launch resources: threads per block, shared memory, global scratch per block;
  * the showcase shapes rendered into ``generated/`` and the precompile groups it belongs to.

Adding an op means one module in this package with one ``KernelOp`` subclass instance named in
its ``KERNELS`` tuple, its templates, its torch op in ``sigcg/ops`` and its public function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..spec import KernelSpec

# Parameter types, as written in templates' C.  "T" is the kernel's element type.
POINTER_TYPES = {"in": "const T *", "out": "T *", "index": "const int32_t *"}
SCALAR_TYPES = {"int64": "int64_t", "flag": "int"}


@dataclass(frozen=True)
class Param:
    """One argument of an entry point.

    ``kind``: "in" (read-only array of T), "out" (written array of T), "index" (read-only
    int32 table), "int64" or "flag" (a C int used as a boolean).  ``optional`` pointers may be
    NULL (None from Python).
    """

    name: str
    kind: str
    optional: bool = False
    doc: str = ""
    # derived (a plain attribute: read on every kernel call)
    is_pointer: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in POINTER_TYPES and self.kind not in SCALAR_TYPES:
            raise ValueError(f"parameter {self.name!r}: unknown kind {self.kind!r}")
        object.__setattr__(self, "is_pointer", self.kind in POINTER_TYPES)

    def c_decl(self, ctype: str, restrict: str = "") -> str:
        if self.is_pointer:
            base = POINTER_TYPES[self.kind].replace("T ", f"{ctype} ")
            return f"{base}{restrict}{self.name}"
        return f"{SCALAR_TYPES[self.kind]} {self.name}"


def params(*specs: str) -> tuple[Param, ...]:
    """Parameters from compact strings "kind name" or "kind? name" (optional)."""
    out = []
    for text in specs:
        kind, name = text.split()
        out.append(Param(name, kind.rstrip("?"), optional=kind.endswith("?")))
    return tuple(out)


@dataclass(frozen=True)
class Entry:
    """One exported function: ``sigcg_<name>`` (CPU, emulated) / ``sigcg_<name>_cuda`` (CUDA).

    ``rows`` names the int64 parameter that counts the independent units of work (paths or
    signature rows): CPU kernels take a [b_begin, b_end) range of them so that a batch can be
    split over threads, CUDA kernels run one block per unit.
    """

    name: str
    params: tuple[Param, ...]
    rows: str = "batch"
    doc: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"entry {self.name}: duplicate parameter names {names}")
        if self.rows not in names:
            raise ValueError(f"entry {self.name}: rows parameter {self.rows!r} missing")

    @property
    def pointer_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.is_pointer)


@dataclass(frozen=True)
class CudaLayout:
    """Launch resources of one CUDA module for one spec (per block)."""

    threads: int
    dynamic_smem: int = 0  # bytes of extern __shared__ memory
    static_smem: int = 0  # bytes of __shared__ arrays the template declares
    # entry -> elements of T in global scratch, per block
    scratch: dict[str, int] = field(default_factory=dict)


class KernelOp:
    """Base class of the descriptors; subclasses set the class attributes and override what
    differs.  Instances are stateless, one per op."""

    name: ClassVar[str]
    summary: ClassVar[str]
    entries: ClassVar[tuple[Entry, ...]]
    templates: ClassVar[dict[str, str]]  # "cpu" / "cuda" (the emulation renders "cuda")
    cpu_variants: ClassVar[tuple[str, ...]] = ("auto",)
    cuda_variants: ClassVar[tuple[str, ...]] = ("global",)
    # Walks paths step by step (one path per SIMD lane on the CPU) rather than whole rows.
    stepped: ClassVar[bool] = False
    # User-level operation groups of `sigcg precompile --ops` this kernel belongs to.
    precompile: ClassVar[tuple[str, ...]] = ()
    # (d, N, dtype, target, variant) rendered into generated/.
    showcase: ClassVar[tuple[tuple[int, int, str, str, str], ...]] = ()

    # ---- declarations ---------------------------------------------------------------------
    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(
            f"{self.name} has no entry point {name!r}; it has {[e.name for e in self.entries]}"
        )

    def variants(self, target: str) -> tuple[str, ...]:
        if target == "cpu":
            return self.cpu_variants if "cpu" in self.templates else ()
        return self.cuda_variants if "cuda" in self.templates else ()

    def has_target(self, target: str) -> bool:
        return ("cpu" if target == "cpu" else "cuda") in self.templates

    # ---- per spec -----------------------------------------------------------------------
    def check(self, spec: KernelSpec) -> None:
        """Raise ValueError for a spec this op cannot be generated for."""

    def context(self, spec: KernelSpec) -> dict[str, Any]:
        """Values the templates read besides the common ones (spec, D, N, ctype, ...)."""
        return {}

    def op_counts(self, spec: KernelSpec) -> dict[str, int]:
        raise NotImplementedError

    def count_unit(self) -> str:
        """What the op counts are per: "path step" or "row"."""
        return "path step" if self.stepped else "row"

    def lanes(self, spec: KernelSpec) -> int:
        """Rows one CPU kernel call advances in lockstep (one per SIMD lane)."""
        if spec.target == "cpu" and self.stepped:
            return spec.vector_bytes // spec.itemsize
        return 1

    def code_shape(self, spec: KernelSpec) -> list[str]:
        """Provenance lines describing the code shape decisions for ``spec``."""
        return []

    def cuda_layout(self, spec: KernelSpec) -> CudaLayout:
        raise NotImplementedError(f"{self.name} has no CUDA form")


class SteppedCpuKernel(KernelOp):
    """What the kernels that walk paths step by step with the Horner macros share on the CPU:
    their code shapes, the unrolling plan and the top-level block in their context, and the
    provenance lines that describe both."""

    cpu_variants: ClassVar[tuple[str, ...]] = ("auto", "loops", "unrolled")
    stepped: ClassVar[bool] = True
    # what the top-level block applies to, for the provenance line
    blocked_walk: ClassVar[str] = "forward, no stream"

    def cpu_context(self, spec: KernelSpec) -> dict[str, Any]:
        from .. import schedule

        return {"plan": schedule.plan_for(spec), "block": schedule.block_steps(spec)}

    def cpu_code_shape(self, spec: KernelSpec) -> list[str]:
        from .. import schedule

        return [
            f"unrolling: {schedule.plan_for(spec).describe()}",
            f"top-level block ({self.blocked_walk}): {schedule.block_steps(spec)} step(s)",
        ]

    def context(self, spec: KernelSpec) -> dict[str, Any]:
        return self.cpu_context(spec)

    def code_shape(self, spec: KernelSpec) -> list[str]:
        return self.cpu_code_shape(spec)
