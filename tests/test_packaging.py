"""The wheel and sdist: metadata, contents, and a fresh venv that installs the wheel with nothing
but its declared dependencies (from the configured index or local wheels) and computes a
signature, once with the system compiler and once with every compiler hidden (zig cc, from the
``compiler`` extra)."""

import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECK = [7.0, 5.0, 24.5, 19.0, 16.0, 12.5]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir"]
        + [str(out), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    # e.g. SetuptoolsDeprecationWarning for a license table instead of an SPDX expression
    assert "DeprecationWarning" not in log, log
    return out


def test_wheel_and_sdist_contents(dist):
    (wheel,) = dist.glob("sigcg-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")  # pure Python: kernels compile on use
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert all(t == "sigcg" or t.endswith(".dist-info") for t in top), top
    assert "sigcg/codegen/renderer.py" in names
    assert any(n.startswith("sigcg/templates/cpu/") and n.endswith(".j2") for n in names)
    assert any(n.startswith("sigcg/templates/cuda/") and n.endswith(".j2") for n in names)
    assert "sigcg/py.typed" in names and "sigcg/dask.py" in names
    assert not any(n.startswith(("codegen/", "templates/")) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(meta_name).decode()
    for line in (
        "License-Expression: Apache-2.0",
        "Description-Content-Type: text/markdown",
        "Classifier: Typing :: Typed",
        "Project-URL: Documentation",
        "Provides-Extra: compiler",
        "Provides-Extra: dask",
        "Provides-Extra: cuda",
    ):
        assert line in meta, line
    assert "License :: OSI Approved" not in meta  # superseded by the expression (PEP 639)
    assert "pip install sigcg" in meta  # the long description
    (sdist,) = dist.glob("sigcg-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
    for wanted in ("LICENSE", "CHANGELOG.md", "docs/pypi.md", "pyproject.toml"):
        assert any(m.endswith("/" + wanted) for m in members), wanted


SMOKE = """
import importlib.util, json, sys, time, torch
t0 = time.perf_counter()
import sigcg
from sigcg.runtime import compiler
assert sigcg.__file__.startswith(sys.prefix), (sigcg.__file__, sys.prefix)
assert importlib.util.find_spec("codegen") is None  # no top-level generator module
x = torch.tensor([[1., 1.], [3., 4.], [5., 2.], [8., 6.]], dtype=torch.float64)
t1 = time.perf_counter()
sig = sigcg.signature(x, 2)
t2 = time.perf_counter()
print(json.dumps(dict(sig=sig.tolist(), kind=compiler.toolchain().kind,
                      import_s=t1 - t0, first_call_s=t2 - t1)))
"""


def test_wheel_in_a_fresh_venv_with_its_declared_dependencies(dist, tmp_path):
    (wheel,) = dist.glob("sigcg-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)  # no system site-packages: only what pip installs
    python = env_dir / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{wheel}[compiler]"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    empty = tmp_path / "no-compilers"
    empty.mkdir()
    for label, extra in (("system", {}), ("zig", {"PATH": str(empty)})):
        env = {k: v for k, v in os.environ.items() if k not in ("CC", "SIGCG_COMPILER")}
        env.update(SIGCG_CACHE_DIR=str(tmp_path / f"cache-{label}"), **extra)
        out = subprocess.run(
            [str(python), "-c", SMOKE], capture_output=True, text=True, cwd=tmp_path, env=env
        )
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.splitlines()[-1])
        assert result["sig"] == CHECK and result["kind"] == label, result
