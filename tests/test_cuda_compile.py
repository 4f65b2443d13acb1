"""Every CUDA template compiles with NVRTC, without errors or warnings, for the GPUs we target.

NVRTC needs no GPU, so this runs in CI; the emulation tests (test_cuda_emulated.py) run the same
kernel bodies on the CPU.  ptxas's report (-Xptxas -v, through NVRTC) shows the register
variants keep their state in registers.
"""

import re

import pytest

from sigcg.codegen import KernelSpec, render, schedule
from sigcg.runtime import cuda as cuda_backend
from sigcg.runtime.compiler import CompileError
from sigcg.runtime.cuda_launch import H100, DeviceInfo, choose_variant

ARCHS = ["sm_80", "sm_90"]
# d = 1, small and large d^N, every state variant of the signature kernels (the largest
# shared-memory shapes an H100 takes included: the (8, 5) float32 and (4, 6) float64
# backwards), splits from 1 letter to N - 1, both dtypes.
SIGNATURE_SPECS = [
    (1, 4, "float64", ("shared", "global", "registers")),
    (2, 3, "float32", ("shared", "global", "registers", "split1", "split2")),
    (3, 5, "float64", ("shared", "registers", "split1", "split3")),
    (4, 6, "float64", ("shared", "global", "split1", "split2", "split4", "split5")),
    (8, 4, "float32", ("global", "registers", "split1", "split3")),
    (2, 8, "float32", ("shared", "registers", "split7")),
    (8, 5, "float32", ("shared", "split2")),
]
SPECS = [
    (op, d, n, dtype, variant)
    for op in ("signature_forward", "signature_backward")
    for d, n, dtype, variants in SIGNATURE_SPECS
    for variant in variants
]
# The tensor-algebra kernels (product, log, exp and their backwards in one module each).
SPECS += [
    (op, d, n, dtype, "global")
    for op in ("tensor_product", "tensor_log", "tensor_exp")
    for d, n, dtype in [(1, 4, "float64"), (2, 3, "float32"), (8, 4, "float32")]
]
SPECS += [("tensor_product", 4, 6, "float64", "global")]


def _is_register_variant(variant):
    return variant == "registers" or variant.startswith("split")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("op,d,n,dtype,variant", SPECS)
def test_nvrtc_compiles_cleanly(op, d, n, dtype, variant, arch):
    """No error, no warning (sm_90 with ptxas's report, which must say nothing else); a
    register variant spills at most a few scalars (ptxas trades a spill for occupancy on its
    own) and its thread count leaves its modelled registers room."""
    spec = KernelSpec(op, d, n, dtype, target="cuda", variant=variant)
    if arch == "sm_80":
        cubin, log = cuda_backend.compile_cuda(spec, arch)
        assert log == "", log  # any warning fails
        assert cubin[:4] == b"\x7fELF" and len(cubin) > 1000
        for entry in spec.kernel.entries:
            assert f"sigcg_{entry.name}_cuda".encode() in cubin
        return
    resources = cuda_backend.ptxas_resources(spec, arch)  # raises on warnings
    assert set(resources) == {e.name for e in spec.kernel.entries}
    if _is_register_variant(variant):
        (used,) = resources.values()
        blocking = schedule.signature_blocking(spec)
        assert used["spill_stores"] <= 32, used
        assert used["registers"] <= schedule.register_cap(blocking.threads)
        assert blocking.register_model() <= schedule.register_cap(blocking.threads)


@pytest.mark.parametrize(
    "op,d,n,dtype,variant",
    [
        ("signature_forward", 4, 6, "float64", "split2"),
        ("signature_backward", 4, 6, "float64", "split2"),
        ("signature_backward", 2, 8, "float32", "registers"),
        ("signature_backward", 8, 4, "float32", "split1"),
    ],
)
def test_register_variants_keep_their_state_in_registers(op, d, n, dtype, variant):
    """No array of the kernel lives in local memory: the item loops unroll, so every index of a
    thread's coefficients is a constant."""
    spec = KernelSpec(op, d, n, dtype, target="cuda", variant=variant)
    bindings = cuda_backend.nvrtc()
    prog = bindings.createProgram(render(spec), "k.cu", [], [])
    try:
        bindings.compileProgram(prog, ["--gpu-architecture=compute_90", "-std=c++17"])
        ptx = bindings.getPTX(prog).decode()
    finally:
        bindings.destroyProgram(prog)
    assert ".local" not in ptx and "ld.param" in ptx


def test_provenance_tells_the_launch_resources():
    spec = KernelSpec("signature_backward", 4, 6, "float64", target="cuda", variant="split2")
    head = render(spec).split("*/", 1)[0]
    layout = spec.kernel.cuda_layout(spec)
    blocking = schedule.signature_blocking(spec)
    assert f"{layout.threads} threads per block" in head
    assert f"dynamic shared memory {layout.dynamic_smem} B" in head
    assert f"one block per (path, 2-letter prefix) (16 per path), {blocking.threads}" in head
    assert f"fma={spec.kernel.op_counts(spec)['fma']}" in head


def test_compile_errors_are_reported(monkeypatch):
    spec = KernelSpec("signature_forward", 2, 3, target="cuda", variant="shared")
    monkeypatch.setattr(cuda_backend.codegen, "render", lambda s: "this is not CUDA")
    with pytest.raises(CompileError, match="NVRTC"):
        cuda_backend.compile_cuda(spec, "sm_90")


def test_memory_variants_follow_shared_memory_limits():
    """A batch that fills the device: registers when they hold the state, else shared memory
    (opting in), else the smallest split that fits registers, else global scratch."""
    small = DeviceInfo("48 KiB", "sm_80", 48 * 1024, 108)
    assert choose_variant("signature_forward", 3, 4, "float64", H100) == "registers"
    assert choose_variant("signature_forward", 8, 5, "float32", H100) == "shared"  # 171 KB
    assert choose_variant("signature_backward", 4, 6, "float64", H100) == "registers"
    assert choose_variant("signature_backward", 8, 5, "float64", H100) == "split1"
    assert choose_variant("signature_backward", 8, 5, "float32", small) == "split1"
    assert choose_variant("signature_forward", 2, 3, "float32", small) == "registers"
    # the tensor-algebra kernels keep their scratch in global memory whatever the device
    assert choose_variant("tensor_log", 2, 3, "float64", H100) == "global"


def test_tensor_algebra_kernels_have_global_scratch_only():
    with pytest.raises(ValueError, match="variant"):
        KernelSpec("tensor_log", 2, 3, target="cuda", variant="shared")


def test_impossible_variants_are_refused():
    with pytest.raises(ValueError, match="split"):
        KernelSpec("signature_forward", 1, 4, target="cuda", variant="split1")
    with pytest.raises(ValueError, match="split"):
        KernelSpec("signature_forward", 2, 3, target="cuda", variant="split3")
    with pytest.raises(ValueError, match="registers"):
        KernelSpec("signature_backward", 8, 5, "float64", target="cuda", variant="registers")


def test_precompile_builds_the_cubins_the_launcher_looks_up(tmp_path, monkeypatch):
    """`precompile --device cuda` needs NVRTC only; afterwards every kernel the launcher could
    pick (every variant of the signature kernels) is a cache hit."""
    from sigcg.runtime import cpu as dispatch
    from sigcg.runtime.cache import KernelCache
    from sigcg.tools.precompile import plan, precompile

    monkeypatch.setenv("SIGCG_CACHE_DIR", str(tmp_path))  # for the spawned build workers
    monkeypatch.setattr(dispatch, "cache", KernelCache(tmp_path))
    request = dict(dtypes=["f32"], ops=["combine", "signature"], devices=["cuda"], archs=["sm_90"])
    report = precompile([2], [3], jobs=1, progress=False, **request)
    # product + 2 x (forward, backward): shared, global, registers, split1, split2
    assert not report.failed and len(report.compiled) == 11
    for job in plan([2], [3], **request):
        _, built = cuda_backend.find_or_build_cubin(job.spec, job.arch)
        assert not built, job
    with pytest.raises(ValueError, match="sm_90"):
        plan([2], [3], devices=["cuda"], archs=["volta"])


def test_ptxas_resources_parses_every_entry():
    spec = KernelSpec("tensor_log", 2, 3, "float32", target="cuda", variant="global")
    resources = cuda_backend.ptxas_resources(spec, "sm_80")
    assert set(resources) == {"tensor_log", "tensor_log_backward"}
    assert all(r["registers"] > 0 and r["spill_stores"] >= 0 for r in resources.values())
    assert re.fullmatch(r"sm_\d+", H100.arch)
