"""CUDA backend: generated CUDA source -> NVRTC (CuPy's bindings) -> cubin in the kernel cache ->
launch with CuPy on torch's current stream, tensors passed by pointer (zero copy).

Imported only for CUDA tensors, so CPU users never import CuPy.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import codegen
from .compiler import CompileError

# Default per-block shared memory; beyond it a kernel must opt in (up to the device's limit).
_DEFAULT_SMEM = 48 * 1024


class CudaUnavailableError(RuntimeError):
    pass


def nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc as bindings
    except ImportError as exc:
        raise CudaUnavailableError(
            "sigcg needs CuPy for CUDA tensors: pip install 'sigcg[cuda]' (CUDA 13 drivers; "
            "with CUDA 12 drivers: pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12)") from exc
    return bindings


def nvrtc_version() -> str:
    major, minor = nvrtc().getVersion()
    return f"{major}.{minor}"


def kernel_names(spec: codegen.KernelSpec) -> list[str]:
    """The ``__global__`` functions of a CUDA module."""
    if spec.op in codegen.PATHWISE_OPS:
        return [f"sigcg_{spec.op}_cuda", f"sigcg_{spec.op}_backward_cuda"]
    return [f"sigcg_{spec.op}_cuda"]


def compile_cuda(spec: codegen.KernelSpec, arch: str) -> tuple[bytes, str]:
    """(cubin, compiler log) for ``spec`` (target "cuda") on ``arch`` (e.g. "sm_90").  Works
    without a GPU: only the NVRTC library is needed."""
    bindings = nvrtc()
    source = codegen.render(spec)
    prog = bindings.createProgram(source, f"{spec.name}.cu", [], [])
    try:
        try:
            bindings.compileProgram(prog, [f"--gpu-architecture={arch}", "-std=c++17"])
        except bindings.NVRTCError as exc:
            raise CompileError(f"NVRTC ({nvrtc_version()}) could not compile {spec.name} for "
                               f"{arch}: {exc}\n{bindings.getProgramLog(prog)}") from None
        return bindings.getCUBIN(prog), bindings.getProgramLog(prog).strip()
    finally:
        bindings.destroyProgram(prog)


def device_arch(device: torch.device) -> str:
    major, minor = torch.cuda.get_device_capability(device)
    return f"sm_{major}{minor}"


class CudaKernel:
    """A loaded CUDA module: its spec, block size and dynamic shared memory, and its
    ``__global__`` functions by name (e.g. "tensor_log" and "tensor_log_backward")."""

    def __init__(self, spec, module, threads: int, smem: int):
        self.spec, self.module, self.threads, self.smem = spec, module, threads, smem
        self._functions: dict = {}

    def function(self, name: str):
        fn = self._functions.get(name)
        if fn is None:
            fn = self._functions[name] = self.module.get_function(f"sigcg_{name}_cuda")
            if self.smem + _static_shared_bytes(self.spec) > _DEFAULT_SMEM:
                fn.max_dynamic_shared_size_bytes = self.smem
        return fn


_registry: dict[tuple, CudaKernel] = {}
_lock = threading.Lock()


def _shared_bytes(op: str, d: int, N: int, itemsize: int) -> tuple[int, int]:
    """(dynamic, static) shared memory of the "shared" variant: the state (S, and G for the
    backward) and the small per-step arrays the templates declare (dl; neg, gdl and gnext).
    The tensor-algebra kernels keep everything in global memory: (0, 0)."""
    if op in codegen.PATHWISE_OPS:
        return 0, 0
    sig = codegen.signature_channels(d, N)
    if op == "signature_forward":
        return sig * itemsize, (N + 1) * d * itemsize
    return 2 * sig * itemsize, (3 * (N + 1) * d + d) * itemsize


def _static_shared_bytes(spec: codegen.KernelSpec) -> int:
    return _shared_bytes(spec.op, spec.d, spec.N, spec.itemsize)[1]


def choose_variant(op: str, d: int, N: int, itemsize: int, smem_limit: int) -> str:
    """"shared" when the block's state fits the device's (opt-in) shared memory, else "global"
    (always "global" for the tensor-algebra kernels, whose scratch is global)."""
    if op in codegen.PATHWISE_OPS:
        return "global"
    return "shared" if sum(_shared_bytes(op, d, N, itemsize)) <= smem_limit else "global"


@functools.lru_cache(maxsize=None)
def _smem_optin(device_index: int) -> int:
    import cupy

    with cupy.cuda.Device(device_index):
        return cupy.cuda.Device(device_index).attributes["MaxSharedMemoryPerBlockOptin"]


def get_kernel(op: str, d: int, N: int, dtype: str, device: torch.device) -> CudaKernel:
    """Strategy by resources: state in shared memory when it fits the device (opting in above
    48 KB), else in a global scratch buffer, so no launch fails for lack of shared memory."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    key = (op, d, N, dtype, index)
    kernel = _registry.get(key)
    if kernel is not None:
        return kernel
    with _lock:
        if key in _registry:
            return _registry[key]
        import cupy

        itemsize = 4 if dtype == "float32" else 8
        variant = choose_variant(op, d, N, itemsize, _smem_optin(index))
        spec = codegen.KernelSpec(op, d, N, dtype, target="cuda", variant=variant)
        arch = device_arch(torch.device("cuda", index))
        entry = _cached_cubin(spec, arch)
        with cupy.cuda.Device(index):
            module = cupy.RawModule(path=str(entry.library))
        smem = _shared_bytes(op, d, N, itemsize)[0] if variant == "shared" else 0
        kernel = CudaKernel(spec, module, codegen.schedule.cuda_threads(spec), smem)
        _registry[key] = kernel
        return kernel


def find_or_build_cubin(spec: codegen.KernelSpec, arch: str):
    """The cache entry of ``spec``'s cubin for ``arch`` and whether this call compiled it.  Needs
    NVRTC only, no GPU: `python -m sigcg precompile --device cuda --arch sm_90` uses it."""
    from .dispatch import cache

    platform = f"cuda-{arch}-nvrtc{nvrtc_version()}"
    key = f"{codegen.source_key(spec)}-{hashlib.sha256(platform.encode()).hexdigest()[:12]}"
    meta = {"spec": asdict(spec), "generator_version": codegen.GENERATOR_VERSION,
            "module": ",".join(kernel_names(spec)), "platform": platform,
            "compiler": f"NVRTC {nvrtc_version()}",
            "flags": [f"--gpu-architecture={arch}", "-std=c++17"]}
    built = []

    def build(workdir: Path) -> Path:
        built.append(True)
        cubin, _ = compile_cuda(spec, arch)
        (workdir / "kernel.cu").write_text(codegen.render(spec))
        target = workdir / "kernel.cubin"
        target.write_bytes(cubin)
        return target
    # a cubin for one architecture or NVRTC never loads for another: both are in the key
    return cache.get_or_build(key, build, meta), bool(built)


def _cached_cubin(spec: codegen.KernelSpec, arch: str):
    return find_or_build_cubin(spec, arch)[0]


def _ptr(tensor) -> np.uint64:
    return np.uint64(0 if tensor is None else tensor.data_ptr())


def _launch(kernel: CudaKernel, name: str, blocks: int, device: torch.device,
            args: tuple) -> None:
    """``blocks`` blocks of ``sigcg_<name>_cuda`` on torch's current stream (nothing for 0)."""
    import cupy

    if blocks == 0:
        return
    stream = torch.cuda.current_stream(device)
    with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(stream.cuda_stream, device.index):
        kernel.function(name)((blocks,), (kernel.threads,), args, shared_mem=kernel.smem)


def signature_forward(path: torch.Tensor, initial, depth: int, stream: bool, out: torch.Tensor):
    batch, length, d = path.shape
    dtype = str(path.dtype).removeprefix("torch.")
    kernel = get_kernel("signature_forward", d, depth, dtype, path.device)
    scratch = None
    if kernel.spec.variant == "global":
        scratch = torch.empty(batch, kernel.spec.sig_channels, dtype=path.dtype, device=path.device)
    _launch(kernel, "signature_forward", batch, path.device,
            (_ptr(path), _ptr(initial), _ptr(out), _ptr(scratch),
                                         np.int64(length), np.int32(stream)))


def signature_backward(path, initial, sig, grad, depth: int, stream: bool, grad_path,
                       grad_initial) -> None:
    batch, length, d = path.shape
    dtype = str(path.dtype).removeprefix("torch.")
    kernel = get_kernel("signature_backward", d, depth, dtype, path.device)
    scratch = None
    if kernel.spec.variant == "global":
        scratch = torch.empty(batch, 2 * kernel.spec.sig_channels, dtype=path.dtype,
                              device=path.device)
    _launch(kernel, "signature_backward", batch, path.device,
            (_ptr(path), _ptr(initial), _ptr(sig), _ptr(grad), _ptr(grad_path),
             _ptr(grad_initial), _ptr(scratch), np.int64(length), np.int32(stream)))


def rows(op: str, backward: bool, channels: int, depth: int, *tensors: torch.Tensor) -> None:
    """One block per row of the tensor-algebra kernel ``op`` ("tensor_product", "tensor_log",
    "tensor_exp") or its backward; ``tensors`` are its (rows, sig) pointer arguments in order,
    inputs then outputs.  Log and exp get their Horner scratch here."""
    first = tensors[0]
    count, dtype = first.shape[0], str(first.dtype).removeprefix("torch.")
    kernel = get_kernel(op, channels, depth, dtype, first.device)
    args = tuple(_ptr(t) for t in tensors)
    scratch_rows = codegen.schedule.cuda_scratch_rows(op, depth, backward)
    if scratch_rows:
        scratch = torch.empty(count * scratch_rows * kernel.spec.sig_channels, dtype=first.dtype,
                              device=first.device)
        args += (_ptr(scratch),)
    _launch(kernel, f"{op}_backward" if backward else op, count, first.device, args)
