"""CPU compile backend: cffi (out-of-line API mode) C wrapper + the system C compiler.

cffi emits the Python extension wrapper around the generated kernel source; we invoke the compiler
ourselves so that the exact command (and the compiler's identity) is known, hashed into the cache
key, and visible in error messages.  cffi's wrappers release the GIL around every kernel call,
which is what lets the batch be split across threads.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import cffi


class CompilerNotFoundError(RuntimeError):
    pass


class CompileError(RuntimeError):
    pass


def _native_build() -> bool:
    """Kernels for this CPU's widest vector units (``-march=native``), unless
    SIGCG_MARCH_NATIVE=0."""
    return os.environ.get("SIGCG_MARCH_NATIVE", "1") != "0"


def default_flags() -> list[str]:
    """The flags sigcg compiles every kernel with (the compiler command's own words aside)."""
    flags = [
        "-O3",
        "-fPIC",
        "-shared",
        "-std=gnu11",
        "-fno-semantic-interposition",
        "-Wno-unused-function",
    ]
    # -march=native lets the vector code use the widest FMA units of this CPU; the CPU's feature
    # flags go into the cache key, so a cache copied to another CPU model is a miss, not a crash.
    if _native_build():
        flags.append("-march=native")
    return flags


def _cpu_features() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def platform_tag() -> str:
    """What a binary needs of the machine that loads it: Python ABI, architecture, cffi, and the
    CPU's features when kernels are built for the native CPU.  Needs no compiler, so a machine
    without one can still pick compatible kernels out of a precompiled cache."""
    text = "\n".join(
        [
            sysconfig.get_config_var("EXT_SUFFIX") or ".so",
            sys.implementation.cache_tag,
            platform.machine(),
            cffi.__version__,
            _cpu_features() if _native_build() else "generic",
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Toolchain:
    """The compiler, its identity and flags; with the platform tag they key the cache."""

    cc: list[str]
    cc_version: str
    flags: tuple[str, ...]
    python_include: str
    ext_suffix: str

    @property
    def key(self) -> str:
        text = "\n".join([" ".join(self.cc), self.cc_version, " ".join(self.flags), platform_tag()])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def all_flags(self) -> tuple[str, ...]:
        """Every option the compile command passes: words of $CC after the program, then
        sigcg's flags.  An entry whose recorded flags differ from default_flags() was built
        with something extra (a sanitizer, -ffast-math) and is never used as a fallback."""
        return (*self.cc[1:], *self.flags)

    @property
    def description(self) -> str:
        return (
            f"{' '.join(self.cc)} ({self.cc_version.splitlines()[0] if self.cc_version else '?'})"
        )


@functools.lru_cache(maxsize=1)
def toolchain() -> Toolchain:
    """Find the C compiler and Python headers once per process; raise a clear error if missing."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    if not cc or shutil.which(cc[0]) is None:
        raise CompilerNotFoundError(
            f"sigcg builds its kernels with a C compiler, and none was found (looked for "
            f"{cc[0] if cc else 'cc'!r}). Install one (Debian/Ubuntu: apt-get install gcc; "
            f"conda: conda install -c conda-forge c-compiler) or point CC at it. "
            f"Alternatively point SIGCG_CACHE_DIR at a cache precompiled for this platform "
            f"(python -m sigcg precompile --export DIR)."
        )
    try:
        version = subprocess.run(
            [*cc, "--version"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompilerNotFoundError(f"could not run the C compiler {cc!r}: {exc}") from exc
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").is_file():
        raise CompilerNotFoundError(
            f"Python.h not found in {include}: install the Python development headers "
            f"(Debian/Ubuntu: apt-get install python3-dev)."
        )
    return Toolchain(
        cc=cc,
        cc_version=version,
        flags=tuple(default_flags()),
        python_include=include,
        ext_suffix=sysconfig.get_config_var("EXT_SUFFIX") or ".so",
    )


def toolchain_or_none() -> Toolchain | None:
    try:
        return toolchain()
    except CompilerNotFoundError:
        return None


def compile_extension(module_name: str, source: str, cdef: str, workdir: Path) -> Path:
    """Build ``module_name`` from kernel ``source`` inside ``workdir``; return the shared object.

    ``workdir`` must be private to this call: the caller publishes the result atomically.
    """
    tc = toolchain()
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source(module_name, source, compiler_verbose=False)
    c_file = workdir / f"{module_name}.c"
    ffi.emit_c_code(str(c_file))
    target = workdir / f"{module_name}{tc.ext_suffix}"
    cmd = [*tc.cc, *tc.flags, f"-I{tc.python_include}", str(c_file), "-o", str(target)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not target.is_file():
        raise CompileError(
            f"compiling {module_name} failed (exit {proc.returncode}).\n"
            f"command: {shlex.join(cmd)}\n{proc.stderr[-4000:]}"
        )
    return target
