"""Compile backends, the kernel cache and the one call path into kernels (backend.launch).

cpu.py          generated C -> cffi extension, threads over the batch
cuda.py         generated CUDA -> NVRTC cubin -> CuPy launch on torch's stream
emulation.py    the CUDA kernels run on the CPU by the real launcher (tests)
cuda_launch.py  the CUDA launcher's decisions (variant, resources), shared by both
cache.py        the on-disk cache all of them publish into
"""

from .backend import KernelArgumentError, emulate_cuda, has_kernel, launch

__all__ = ["KernelArgumentError", "emulate_cuda", "has_kernel", "launch"]
