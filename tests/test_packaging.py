"""The wheel and sdist: generator and templates inside the sigcg namespace, installable, working."""

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_installs_into_fresh_venv_and_computes(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--wheel",
            "--sdist",
            "--outdir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("sigcg-*.whl")
    assert list(dist.glob("sigcg-*.tar.gz"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert all(t == "sigcg" or t.endswith(".dist-info") for t in top), top
    assert "sigcg/codegen/renderer.py" in names and "sigcg/templates/horner.j2" in names
    assert not any(n.startswith("codegen/") or n.startswith("templates/") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # torch and friends come from the environment running the tests (a venv or not: a .pth
    # line is a plain path, so that environment's editable sigcg finder is not installed);
    # sigcg only from the wheel
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "outer-environment.pth").write_text(
        "\n".join(p for p in site.getsitepackages() + [site.getusersitepackages()]) + "\n"
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    smoke = f"""
import importlib.util, torch, sigcg
assert sigcg.__file__.startswith(r"{env_dir}"), sigcg.__file__
assert importlib.util.find_spec("codegen") is None  # no top-level generator module
x = torch.tensor([[1., 1.], [3., 4.], [5., 2.], [8., 6.]], dtype=torch.float64)
print(sigcg.signature(x, 2).tolist(), sigcg.__version__)
"""
    out = subprocess.run(
        [str(python), "-c", smoke],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, SIGCG_CACHE_DIR=str(tmp_path / "cache")),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[7.0, 5.0, 24.5, 19.0, 16.0, 12.5]")
