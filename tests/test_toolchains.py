"""Compiler discovery: the system compiler when there is one, zig cc (the ziglang package) when
PATH holds none, the choice recorded in the toolchain key and named by ``sigcg cache info``."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sigcg.runtime import compiler

# CI installs ziglang (make install): there the zig path must run, not skip.
if not os.environ.get("CI"):
    pytest.importorskip("ziglang")

CHILD = """
import json, sys, torch, sigcg
from sigcg.runtime import compiler, cpu
g = torch.Generator().manual_seed(0)
x = torch.randn(5, 30, 3, generator=g, dtype=torch.float64).cumsum(1).requires_grad_()
sig = sigcg.signature(x, 4)
(grad,) = torch.autograd.grad(sig, x, torch.randn(sig.shape, generator=g, dtype=torch.float64))
check = sigcg.signature(torch.tensor([[1., 1.], [3., 4.], [5., 2.], [8., 6.]]).double(), 2)
tc = compiler.toolchain()
print(json.dumps(dict(sig=sig.tolist(), grad=grad.tolist(), check=check.tolist(), kind=tc.kind,
                      key=tc.key, description=tc.description,
                      compilers=sorted({e.meta["compiler"] for _, e in cpu.cache.entries()}))))
"""


def _run(code, cache, **env):
    full = dict(os.environ, SIGCG_CACHE_DIR=str(cache), **env)
    full.pop("CC", None)
    full.pop("SIGCG_COMPILER", None)
    full.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_zig_cc_builds_when_path_has_no_compiler(tmp_path):
    """PATH without any compiler: sigcg picks zig cc by itself, its kernels match gcc's."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    system = json.loads(_run(CHILD, tmp_path / "cache-system").splitlines()[-1])
    zig = json.loads(_run(CHILD, tmp_path / "cache-zig", PATH=str(empty)).splitlines()[-1])
    assert system["kind"] == "system" and zig["kind"] == "zig"
    assert zig["key"] != system["key"]
    assert zig["compilers"] and all(c.startswith("zig cc") for c in zig["compilers"])
    assert zig["check"] == [7.0, 5.0, 24.5, 19.0, 16.0, 12.5]
    # gcc and clang may contract multiply-adds differently: equal to rounding
    import numpy as np

    np.testing.assert_allclose(zig["sig"], system["sig"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(zig["grad"], system["grad"], rtol=1e-11, atol=1e-11)
    info = subprocess.run(
        [sys.executable, "-m", "sigcg", "cache", "info"],
        env=dict(os.environ, SIGCG_CACHE_DIR=str(tmp_path / "cache-zig"), PATH=str(empty)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0, info.stderr
    assert "C compiler: zig cc" in info.stdout


@pytest.mark.skipif(
    shutil.which("clang") is None or shutil.which("gcc") is None, reason="needs gcc and clang"
)
def test_clang_builds_like_gcc(tmp_path):
    import numpy as np

    gcc = json.loads(_run(CHILD, tmp_path / "cache-gcc", CC="gcc").splitlines()[-1])
    clang = json.loads(_run(CHILD, tmp_path / "cache-clang", CC="clang").splitlines()[-1])
    assert gcc["key"] != clang["key"]
    assert clang["description"].startswith("clang") and clang["check"] == gcc["check"]
    np.testing.assert_allclose(clang["sig"], gcc["sig"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(clang["grad"], gcc["grad"], rtol=1e-11, atol=1e-11)


def test_zig_key_names_zig_not_its_path(monkeypatch):
    """Two environments with the same ziglang share entries: the key hashes zig's version."""
    zig = compiler.zig_executable()
    if zig is None:
        pytest.skip("ziglang not installed")
    a = compiler._zig_toolchain(zig, "/usr/include")
    b = compiler.Toolchain(**{**a.__dict__, "cc": ["/elsewhere/zig", "cc"]})
    assert a.key == b.key and a.all_flags == tuple(compiler.default_flags())
    assert "zig" in a.description and "-nostdlib" in a.command(Path("k.c"), Path("k.so"))


def test_compiler_choice(monkeypatch):
    monkeypatch.setenv("SIGCG_COMPILER", "nonsense")
    with pytest.raises(compiler.CompilerNotFoundError, match="auto, system, zig"):
        compiler.compiler_choice()
    monkeypatch.setenv("SIGCG_COMPILER", "ZIG")
    assert compiler.compiler_choice() == "zig"
    monkeypatch.delenv("SIGCG_COMPILER")
    assert compiler.compiler_choice() == "auto"


def test_no_compiler_at_all_says_what_to_install(tmp_path, monkeypatch):
    """Neither a system compiler nor ziglang: the error names both ways out."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("SIGCG_COMPILER", "system")
    compiler.toolchain.cache_clear()
    try:
        with pytest.raises(compiler.CompilerNotFoundError) as err:
            compiler.toolchain()
    finally:
        compiler.toolchain.cache_clear()
    assert "apt-get install gcc" in str(err.value) and "sigcg[compiler]" in str(err.value)


def test_missing_python_headers_say_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGCG_PYTHON_INCLUDE", str(tmp_path))
    with pytest.raises(compiler.CompilerNotFoundError, match="python3-dev"):
        compiler.python_include()


def test_silent_compiler_crash_on_a_full_disk_names_the_disk(tmp_path, monkeypatch):
    """zig aborts without a message when the disk is full; the error must still say why, so the
    cache falls back to its private directory as it does for gcc's 'No space left'."""
    monkeypatch.setattr(
        compiler,
        "open",
        lambda *a, **k: (_ for _ in ()).throw(OSError(28, os.strerror(28))),
        raising=False,
    )
    assert os.strerror(28) in compiler._disk_problem(tmp_path)
    monkeypatch.undo()
    assert compiler._disk_problem(tmp_path) == ""
    assert list(tmp_path.iterdir()) == []
