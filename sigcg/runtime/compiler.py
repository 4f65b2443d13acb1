"""CPU compile backend: cffi (out-of-line API mode) C wrapper + a C compiler.

cffi emits the Python extension wrapper around the generated kernel source; we invoke the compiler
ourselves so that the exact command (and the compiler's identity) is known, hashed into the cache
key, and visible in error messages.  cffi's wrappers release the GIL around every kernel call,
which is what lets the batch be split across threads.

Which compiler (``SIGCG_COMPILER``):

* ``auto`` (default): ``$CC`` when it is set (and nothing else: an explicit choice that does not
  work is an error, not a silent switch); else the first of ``cc``, ``gcc``, ``clang`` on PATH
  that answers ``--version``; else ``zig cc`` from the ``ziglang`` package
  (``pip install "sigcg[compiler]"``), so a slim container without a system compiler still builds
  kernels;
* ``system``: ``$CC`` or ``cc``/``gcc``/``clang``, never zig;
* ``zig``: ``zig cc`` from ``ziglang`` even where a system compiler exists.

gcc and clang are driven with the same flags.  ``zig cc`` is clang with its own libc headers; it
links the kernel with ``-nostdlib`` (a Python extension's few libc symbols, ``aligned_alloc`` and
``free``, resolve in the process that loads it), which keeps its first compile as fast as gcc's
instead of building libc stubs for a few seconds.  The toolchain key names zig and its version,
not its path, so every environment with the same ziglang shares entries.

Python headers: kernels are cffi API-mode extensions, so the compile needs ``Python.h`` (found
with ``sysconfig``, or in ``SIGCG_PYTHON_INCLUDE``).  cffi's ABI mode would need no headers, but
each call through libffi costs about 0.4 us more (0.41 -> 0.81 us per kernel call measured on the
tiny signature kernel, ~5% of a whole tiny ``signature`` call), so API mode stays.
"""

from __future__ import annotations

import contextlib
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

COMPILER_ENV = "SIGCG_COMPILER"
COMPILER_CHOICES = ("auto", "system", "zig")
SYSTEM_COMPILERS = ("cc", "gcc", "clang")
_INSTALL_HINT = (
    "Install one (Debian/Ubuntu: apt-get install gcc; Fedora: dnf install gcc; conda: conda "
    'install -c conda-forge c-compiler), or pip install "sigcg[compiler]" for a pip-installed '
    "one (zig cc), or point CC at one. Alternatively point SIGCG_CACHE_DIR at a cache "
    "precompiled for this platform (python -m sigcg precompile --export DIR)."
)


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
    kind: str = "system"  # "system" (gcc, clang, $CC) or "zig" (zig cc from ziglang)
    program_words: int = 1  # leading words of cc that name the program ("zig", "cc": 2)
    link_flags: tuple[str, ...] = ()  # after the sources; hashed into the key

    @property
    def key(self) -> str:
        if self.kind == "zig":
            # zig's identity is its version, not where pip put it: environments share entries
            name = " ".join(["zig", *self.cc[1 : self.program_words], *self.link_flags])
        else:
            name = " ".join(self.cc)
        text = "\n".join([name, self.cc_version, " ".join(self.flags), platform_tag()])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def all_flags(self) -> tuple[str, ...]:
        """Every option that can change the generated code: words of $CC after the program, then
        sigcg's flags.  An entry whose recorded flags differ from default_flags() was built
        with something extra (a sanitizer, -ffast-math) and is never used as a fallback."""
        return (*self.cc[self.program_words :], *self.flags)

    @property
    def description(self) -> str:
        first = self.cc_version.splitlines()[0] if self.cc_version else "?"
        if self.kind == "zig":
            return f"zig cc ({first}; {self.cc[0]})"
        return f"{' '.join(self.cc)} ({first})"

    def command(self, c_file: Path, target: Path) -> list[str]:
        return [
            *self.cc,
            *self.flags,
            f"-I{self.python_include}",
            str(c_file),
            *self.link_flags,
            "-o",
            str(target),
        ]


def compiler_choice() -> str:
    """``SIGCG_COMPILER`` (auto, system or zig); anything else is an error naming the choices."""
    choice = os.environ.get(COMPILER_ENV, "").strip().lower() or "auto"
    if choice not in COMPILER_CHOICES:
        raise CompilerNotFoundError(
            f"{COMPILER_ENV}={choice!r} is not one of {', '.join(COMPILER_CHOICES)}"
        )
    return choice


def zig_executable() -> str | None:
    """The ``zig`` binary of the ``ziglang`` package, if that is installed."""
    try:
        import ziglang  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    folder = Path(ziglang.__file__).parent
    for name in ("zig", "zig.exe"):
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def _version(cc: list[str], flag: str = "--version") -> str | None:
    """``cc --version``'s output (or ``flag``'s), or None when it does not run or fails."""
    try:
        proc = subprocess.run([*cc, flag], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def python_include() -> str:
    """The directory holding ``Python.h`` (``SIGCG_PYTHON_INCLUDE``, else sysconfig's)."""
    include = os.environ.get("SIGCG_PYTHON_INCLUDE") or sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").is_file():
        raise CompilerNotFoundError(
            f"Python.h not found in {include}: kernels are Python extensions and need the "
            f"Python development headers (Debian/Ubuntu: apt-get install python3-dev; python.org, "
            f"pyenv, conda, uv and the official Docker python images ship them), or point "
            f"SIGCG_PYTHON_INCLUDE at a directory holding Python.h for this interpreter."
        )
    return include


def _system_compiler() -> tuple[list[str], str] | None:
    if os.environ.get("CC", "").strip():
        cc = shlex.split(os.environ["CC"])
        if shutil.which(cc[0]) is None:
            raise CompilerNotFoundError(
                f"sigcg builds its kernels with a C compiler, and CC={os.environ['CC']!r} was "
                f"not found. {_INSTALL_HINT}"
            )
        version = _version(cc)
        if version is None:
            raise CompilerNotFoundError(f"could not run the C compiler {cc!r} (CC)")
        return cc, version
    for name in SYSTEM_COMPILERS:
        if shutil.which(name) is None:
            continue
        version = _version([name])
        if version is not None:
            return [name], version
    return None


def _zig_toolchain(zig: str, include: str) -> Toolchain:
    version, zig_version = _version([zig, "cc"]), _version([zig], "version")
    if version is None or not zig_version:
        raise CompilerNotFoundError(f"could not run {zig} cc (the ziglang package)")
    return Toolchain(
        cc=[zig, "cc"],
        cc_version=f"zig {zig_version}, {version}",
        flags=tuple(default_flags()),
        python_include=include,
        ext_suffix=sysconfig.get_config_var("EXT_SUFFIX") or ".so",
        kind="zig",
        program_words=2,
        link_flags=("-nostdlib",),
    )


@functools.lru_cache(maxsize=1)
def toolchain() -> Toolchain:
    """Find the C compiler and Python headers once per process; raise a clear error if missing."""
    choice = compiler_choice()
    found = None if choice == "zig" else _system_compiler()
    if found is None and choice != "system":
        zig = zig_executable()
        if zig is not None:
            return _zig_toolchain(zig, python_include())
        if choice == "zig":
            raise CompilerNotFoundError(
                f"{COMPILER_ENV}=zig, but the ziglang package is not installed "
                f'(pip install "sigcg[compiler]")'
            )
    if found is None:
        raise CompilerNotFoundError(
            f"sigcg builds its kernels with a C compiler, and none was found (looked for "
            f"{', '.join(SYSTEM_COMPILERS)} on PATH"
            f"{'' if choice == 'system' else ' and for the ziglang package'}). {_INSTALL_HINT}"
        )
    cc, version = found
    return Toolchain(
        cc=cc,
        cc_version=version,
        flags=tuple(default_flags()),
        python_include=python_include(),
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
    cmd = tc.command(c_file, target)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not target.is_file():
        stderr = proc.stderr[-4000:]
        if proc.returncode < 0 or not stderr.strip():
            stderr += _disk_problem(workdir)
        raise CompileError(
            f"compiling {module_name} failed (exit {proc.returncode}).\n"
            f"command: {shlex.join(cmd)}\n{stderr}"
        )
    return target


def _disk_problem(workdir: Path, size: int = 1 << 18) -> str:
    """Why ``workdir`` cannot take a library, if it cannot: zig aborts without a word when the
    disk is full, where gcc would say so (the cache then falls back to a private directory)."""
    probe = workdir / ".space-probe"
    try:
        with open(probe, "wb") as f:
            f.write(bytes(size))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return f"\nthe compiler could not write its output: {exc.strerror or exc}"
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return ""
