"""The generator: torch-free, deterministic, provenance headers, code-shape variants agree."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sigcg.codegen as codegen
from conftest import random_path
from sigcg import ops
from sigcg.codegen.cli import showcase_filename, showcase_specs
from sigcg.runtime.cpu import BACKEND as cpu

REPO = Path(__file__).resolve().parent.parent


def test_generator_runs_without_torch():
    code = f"""
import sys, importlib.util
sys.modules["torch"] = None  # any torch import now fails
spec = importlib.util.spec_from_file_location("codegen", r"{REPO / "codegen" / "__init__.py"}",
                                              submodule_search_locations=[r"{REPO / "codegen"}"])
cg = importlib.util.module_from_spec(spec); sys.modules["codegen"] = cg; spec.loader.exec_module(cg)
print(len(cg.render(cg.KernelSpec("signature_backward", 3, 4))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 1000


def test_checked_in_kernels_are_current():
    for spec in showcase_specs():
        path = REPO / "generated" / showcase_filename(spec)
        assert path.read_text() == codegen.render(spec), f"{path} is stale: run make generate"


def test_provenance_header():
    spec = codegen.KernelSpec("signature_forward", 3, 4, "float32")
    source = codegen.render(spec)
    head = source.split("*/", 1)[0]
    assert f"sigcg.codegen {codegen.GENERATOR_VERSION}" in head
    assert "d=3 N=4 dtype=float32" in head
    assert f"fma={spec.kernel.op_counts(spec)['fma']}" in head
    horner = sum(3**j for k in range(1, 5) for j in range(1, k + 1))
    assert spec.kernel.op_counts(spec)["fma"] == horner
    assert source == codegen.render(spec)  # deterministic


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(op="nope", d=2, N=2), "unknown op"),
        (dict(op="signature_forward", d=0, N=2), "d must"),
        (dict(op="signature_forward", d=2, N=0), "N must"),
        (dict(op="signature_forward", d=2, N=2, dtype="float16"), "dtype"),
        (dict(op="signature_forward", d=2, N=2, variant="fast"), "variant"),
    ],
)
def test_spec_rejects_bad_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        codegen.KernelSpec(**kwargs)


@pytest.mark.parametrize("d,depth", [(3, 4), (2, 6)])
def test_loops_and_unrolled_variants_agree(d, depth):
    x = random_path(6, 9, d, seed=d)
    cot = torch.randn(6, codegen.signature_channels(d, depth), dtype=torch.float64)
    results = {}
    for variant in ("loops", "unrolled", "auto"):
        with cpu.forced_variant(variant):
            sig = ops.signature.forward(x, None, depth, False)
            grad, _ = ops.signature_backward.forward(x, None, sig, cot, depth, False, False)
        results[variant] = (sig, grad)
    for variant in ("unrolled", "auto"):
        torch.testing.assert_close(results[variant][0], results["loops"][0], rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(results[variant][1], results["loops"][1], rtol=1e-12, atol=1e-12)


def test_source_key_follows_schedule_values(monkeypatch):
    spec = codegen.KernelSpec("signature_forward", 2, 8)
    base = codegen.source_key(spec)
    monkeypatch.setattr(codegen.schedule, "BLOCK_STEPS", 2)
    assert codegen.source_key(spec) != base
    monkeypatch.setattr(codegen.schedule, "BLOCK_STEPS", 4)
    monkeypatch.setattr(codegen.schedule, "FULL_UNROLL_BUDGET", 10**6)
    assert codegen.source_key(spec) != base
    monkeypatch.undo()
    assert codegen.source_key(spec) == base
    assert codegen.source_key(codegen.KernelSpec("signature_forward", 2, 7)) != base


def test_editing_any_generator_file_changes_the_source_key(monkeypatch):
    """Every template and every generator module (descriptors included) is part of the source
    key: a one-byte edit to any of them makes new kernels instead of serving stale ones."""
    from pathlib import Path

    from sigcg.codegen import identity

    spec = codegen.KernelSpec("signature_backward", 3, 4)
    base = codegen.source_key(spec)
    files = identity.generator_files()
    names = [name for name, _ in files]
    assert "templates/cpu/horner.j2" in names and "codegen/kernels/signature.py" in names
    assert "templates/cuda/grid.j2" in names and "codegen/renderer.py" in names
    original = Path.read_bytes
    for name, edited in files:
        monkeypatch.setattr(
            Path,
            "read_bytes",
            lambda self, _e=edited: original(self) + (b" " if self == _e else b""),
        )
        identity.generator_fingerprint.cache_clear()
        assert codegen.source_key(spec) != base, name
    monkeypatch.setattr(Path, "read_bytes", original)
    identity.generator_fingerprint.cache_clear()
    assert codegen.source_key(spec) == base


def test_compiler_flags_change_the_toolchain_key(monkeypatch):
    from sigcg.runtime import compiler

    def key():
        compiler.toolchain.cache_clear()
        compiler.platform_tag.cache_clear()
        return compiler.toolchain().key

    monkeypatch.setenv("SIGCG_MARCH_NATIVE", "1")
    native = key()
    monkeypatch.setenv("SIGCG_MARCH_NATIVE", "0")
    portable = key()
    monkeypatch.setenv("CC", "cc -ffast-math")
    fast_math = key()
    monkeypatch.undo()
    assert len({native, portable, fast_math}) == 3
    assert key() == native
