"""Every CUDA template compiles with NVRTC, without errors or warnings, for the GPUs we target.

NVRTC needs no GPU, so this runs in CI; the emulation tests (test_cuda_emulated.py) run the same
kernel bodies on the CPU.
"""
import pytest

from sigcg.codegen import KernelSpec
from sigcg.runtime import cuda as cuda_backend
from sigcg.runtime.compiler import CompileError
from sigcg.runtime.cuda_launch import H100, DeviceInfo, choose_variant

ARCHS = ["sm_80", "sm_90"]
# d = 1, small and large d^N (both thread counts), shared and global state, both dtypes.
SPECS = [(op, d, n, dtype, variant)
         for op in ("signature_forward", "signature_backward")
         for d, n, dtype, variant in [(1, 4, "float64", "shared"), (2, 3, "float32", "shared"),
                                      (3, 5, "float64", "shared"), (4, 6, "float64", "global"),
                                      (8, 4, "float32", "global"), (2, 8, "float32", "shared")]]
# The tensor-algebra kernels (product, log, exp and their backwards in one module each).
SPECS += [(op, d, n, dtype, "global")
          for op in ("tensor_product", "tensor_log", "tensor_exp")
          for d, n, dtype in [(1, 4, "float64"), (2, 3, "float32"), (8, 4, "float32")]]
SPECS += [("tensor_product", 4, 6, "float64", "global")]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("op,d,n,dtype,variant", SPECS)
def test_nvrtc_compiles_cleanly(op, d, n, dtype, variant, arch):
    spec = KernelSpec(op, d, n, dtype, target="cuda", variant=variant)
    cubin, log = cuda_backend.compile_cuda(spec, arch)
    assert log == "", log  # any warning fails
    assert cubin[:4] == b"\x7fELF" and len(cubin) > 1000
    for entry in spec.kernel.entries:
        assert f"sigcg_{entry.name}_cuda".encode() in cubin


def test_compile_errors_are_reported(monkeypatch):
    spec = KernelSpec("signature_forward", 2, 3, target="cuda", variant="shared")
    monkeypatch.setattr(cuda_backend.codegen, "render", lambda s: "this is not CUDA")
    with pytest.raises(CompileError, match="NVRTC"):
        cuda_backend.compile_cuda(spec, "sm_90")


def test_strategy_follows_shared_memory_limits():
    small = DeviceInfo("48 KiB", "sm_80", 48 * 1024, 108)
    assert choose_variant("signature_forward", 4, 6, "float64", H100) == "shared"  # 43 KB
    assert choose_variant("signature_backward", 4, 6, "float64", H100) == "shared"  # 87 KB
    assert choose_variant("signature_backward", 4, 6, "float64", small) == "global"
    assert choose_variant("signature_forward", 6, 6, "float64", H100) == "global"  # 448 KB
    assert choose_variant("signature_forward", 2, 3, "float32", small) == "shared"
    # the tensor-algebra kernels keep their scratch in global memory whatever the device
    assert choose_variant("tensor_log", 2, 3, "float64", H100) == "global"


def test_tensor_algebra_kernels_have_global_scratch_only():
    with pytest.raises(ValueError, match="variant"):
        KernelSpec("tensor_log", 2, 3, target="cuda", variant="shared")


def test_precompile_builds_the_cubins_the_launcher_looks_up(tmp_path, monkeypatch):
    """`precompile --device cuda` needs NVRTC only; afterwards every kernel the launcher could
    pick (both state variants of the signature kernels) is a cache hit."""
    from sigcg.runtime import cpu as dispatch
    from sigcg.runtime.cache import KernelCache
    from sigcg.tools.precompile import plan, precompile

    monkeypatch.setenv("SIGCG_CACHE_DIR", str(tmp_path))  # for the spawned build workers
    monkeypatch.setattr(dispatch, "cache", KernelCache(tmp_path))
    request = dict(dtypes=["f32"], ops=["combine", "signature"], devices=["cuda"],
                   archs=["sm_90"])
    report = precompile([2], [3], jobs=1, progress=False, **request)
    assert not report.failed and len(report.compiled) == 5  # product + 2 x (forward, backward)
    for job in plan([2], [3], **request):
        _, built = cuda_backend.find_or_build_cubin(job.spec, job.arch)
        assert not built, job
    with pytest.raises(ValueError, match="sm_90"):
        plan([2], [3], devices=["cuda"], archs=["volta"])
