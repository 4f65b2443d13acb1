"""From nothing to a first signature: build the wheel, install it into fresh venvs, time the first
call with the system compiler and with every compiler hidden (zig cc from ``sigcg[compiler]``).

    python benchmarks/bench_install.py [--keep DIR]

Install times include pip's resolution and unpacking; downloads come from pip's configured index
and its local cache, whatever state they are in on this machine (say so when you report them).
First calls run in a fresh process with an empty kernel cache (and, for zig, an empty zig cache):
``import`` is the time to import torch and sigcg, ``first call`` the first ``sigcg.signature``
(generate, compile, load, run), ``second kernel`` a new (channels, depth) in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SMOKE = """
import json, time
t0 = time.perf_counter()
import torch, sigcg
from sigcg.runtime import compiler
t1 = time.perf_counter()
x = torch.tensor([[1., 1.], [3., 4.], [5., 2.], [8., 6.]], dtype=torch.float64)
out = sigcg.signature(x, 2)
t2 = time.perf_counter()
sigcg.signature(torch.randn(8, 50, 4), 4)
t3 = time.perf_counter()
assert out.tolist() == [7.0, 5.0, 24.5, 19.0, 16.0, 12.5]
print(json.dumps(dict(kind=compiler.toolchain().kind, compiler=compiler.toolchain().description,
                      import_s=t1 - t0, first_s=t2 - t1, second_s=t3 - t2)))
"""


def run(cmd, **kwargs):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc, time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", help="work here (kept) instead of a temporary directory")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="sigcg-install-"))
    work.mkdir(parents=True, exist_ok=True)
    dist = work / "dist"
    _, build_s = run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(dist)]
        + [str(REPO)]
    )
    (wheel,) = dist.glob("sigcg-*.whl")
    print(f"wheel {wheel.name} built in {build_s:.1f} s")
    empty = work / "no-compilers"
    empty.mkdir(exist_ok=True)
    rows = []
    for extra in ("", "[compiler]"):
        env_dir = work / f"venv{extra.strip('[]') or '-plain'}"
        t0 = time.perf_counter()
        venv.create(env_dir, with_pip=True, clear=True)
        venv_s = time.perf_counter() - t0
        python = str(env_dir / "bin" / "python")
        _, install_s = run([python, "-m", "pip", "install", "-q", f"{wheel}{extra}"])
        print(f"pip install sigcg{extra}: venv {venv_s:.1f} s + install {install_s:.1f} s")
        cases = [("system compiler", {})]
        if extra:
            cases.append(("no compiler on PATH", {"PATH": str(empty)}))
        for label, env_extra in cases:
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as zc:
                env = {k: v for k, v in os.environ.items() if k not in ("CC", "SIGCG_COMPILER")}
                env.update(SIGCG_CACHE_DIR=cache, ZIG_GLOBAL_CACHE_DIR=zc, **env_extra)
                proc, total = run([python, "-c", SMOKE], env=env, cwd=work)
                r = json.loads(proc.stdout.splitlines()[-1])
            rows.append((f"sigcg{extra}", venv_s + install_s, label, r, total))
    print(
        "\n| install | venv + pip install (s) | compiler | chosen | import (s) | "
        "first call (s) | second kernel (s) |\n|---|---|---|---|---|---|---|"
    )
    for what, inst, label, r, _ in rows:
        print(
            f"| `pip install {what}` | {inst:.1f} | {label} | {r['compiler'].split(' (')[0]} | "
            f"{r['import_s']:.2f} | {r['first_s']:.2f} | {r['second_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
