"""python -m sigcg end to end: precompile, cache list/verify/clear, export, show, interruption."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

# A small grid: the cache tests elsewhere cover concurrency; here the CLI's behaviour matters.
GRID = ["--channels", "2", "--depth", "2-3", "--dtype", "f64", "--jobs", "2", "--quiet"]


def sigcg_cli(*args, cache, env=None, check=True):
    full_env = dict(os.environ, **(env or {}))
    full_env["SIGCG_CACHE_DIR"] = str(cache)
    proc = subprocess.run(
        [sys.executable, "-m", "sigcg", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_precompile_list_verify_corrupt_clear(tmp_path):
    cache = tmp_path / "cache"
    out = sigcg_cli("precompile", *GRID, cache=cache).stdout
    # signature: forward, backward and the product that multiplies a small batch's pieces
    assert "6 compiled, 0 already cached, 0 failed" in out
    assert "0 compiled, 6 already cached" in sigcg_cli("precompile", *GRID, cache=cache).stdout
    listing = sigcg_cli("cache", "list", cache=cache).stdout
    assert listing.count("signature_forward") == 2 and listing.count("signature_backward") == 2
    assert listing.count("tensor_product") == 2 and "6 entries" in listing
    assert "removed 0 bad" in sigcg_cli("cache", "verify", cache=cache).stdout

    victim = sorted((cache / "kernels").iterdir())[0]
    meta = json.loads((victim / "meta.json").read_text())
    (victim / meta["library"]).write_bytes(b"\0" * 64)
    assert "BAD ENTRY" in sigcg_cli("cache", "list", cache=cache).stdout
    verify = sigcg_cli("cache", "verify", cache=cache).stdout
    assert victim.name in verify and "removed 1 bad" in verify
    assert "1 compiled, 5 already cached" in sigcg_cli("precompile", *GRID, cache=cache).stdout

    assert (
        "removed 0 entries" in sigcg_cli("cache", "clear", "--older-than", "1", cache=cache).stdout
    )
    assert "removed 6 entries" in sigcg_cli("cache", "clear", cache=cache).stdout
    assert "0 entries" in sigcg_cli("cache", "list", cache=cache).stdout
    info = sigcg_cli("cache", "info", cache=cache).stdout
    assert "C compiler: cc" in info and "entries: 0" in info


def test_exported_cache_works_without_a_compiler(tmp_path):
    cache, export = tmp_path / "cache", tmp_path / "export"
    sigcg_cli("precompile", *GRID, "--export", str(export), cache=cache)
    before = sorted(str(p) for p in export.rglob("*"))
    code = (
        "import torch, sigcg; x = torch.randn(3, 5, 2, dtype=torch.float64, "
        "requires_grad=True); s = sigcg.signature(x, 3); s.sum().backward(); "
        "print(float(s.sum()), bool(torch.isfinite(x.grad).all()))"
    )
    # No compiler can run at all: a compile attempt would raise CompilerNotFoundError.
    env = dict(os.environ, SIGCG_CACHE_DIR=str(export), CC="/nonexistent/cc")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1] == "True"
    assert sorted(str(p) for p in export.rglob("*")) == before  # used read-only
    # a shape that was not exported says what to do
    code_missing = "import torch, sigcg; sigcg.signature(torch.randn(3, 5, 4), 3)"
    proc = subprocess.run(
        [sys.executable, "-c", code_missing], env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "C compiler" in proc.stderr


# A compiler that lets $SLOTS compiles through and makes every later one hang, so the test
# interrupts precompile at a known point whatever the machine's speed or the other tests' load.
GATED_CC = """#!/bin/sh
if [ "$1" = "--version" ]; then exec cc "$@"; fi
i=1
while [ "$i" -le "$SLOTS" ]; do
    if mkdir "$GATE/slot$i" 2>/dev/null; then exec cc "$@"; fi
    i=$((i + 1))
done
touch "$GATE/hanging"
exec sleep 600
"""


def test_interrupted_precompile_leaves_only_complete_entries(tmp_path):
    cache, gate = tmp_path / "cache", tmp_path / "gate"
    gate.mkdir()
    compiler = tmp_path / "gated-cc"
    compiler.write_text(GATED_CC)
    compiler.chmod(0o755)
    env = dict(os.environ, SIGCG_CACHE_DIR=str(cache), CC=str(compiler), GATE=str(gate), SLOTS="3")
    grid = ["--channels", "2-3", "--depth", "2-3", "--dtype", "f64", "--jobs", "2", "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sigcg", "precompile", *grid],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        kernels = cache / "kernels"
        while not (
            (gate / "hanging").exists() and kernels.is_dir() and len(list(kernels.iterdir())) == 3
        ):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the hanging compilers
    assert proc.returncode == 130, out + err
    assert "interrupted" in out
    assert len(list(kernels.iterdir())) == 3  # the three finished kernels, nothing half-built
    assert "removed 0 bad" in sigcg_cli("cache", "verify", cache=cache, env=env).stdout
    env["SLOTS"] = "100"
    out = sigcg_cli("precompile", *grid, cache=cache, env=env).stdout
    assert "9 compiled, 3 already cached, 0 failed" in out


def test_show_prints_generated_source(tmp_path):
    out = sigcg_cli(
        "show",
        "--op",
        "signature_forward",
        "--channels",
        "3",
        "--depth",
        "4",
        "--dtype",
        "f64",
        cache=tmp_path,
    ).stdout
    assert out.startswith("/*\n * Generated by sigcg.codegen")
    assert "d=3 N=4 dtype=float64" in out
    bad = sigcg_cli(
        "show", "--op", "nope", "--channels", "3", "--depth", "4", cache=tmp_path, check=False
    )
    assert bad.returncode == 2 and "unknown op" in bad.stderr
    cuda = sigcg_cli(
        "show",
        "--op",
        "tensor_log",
        "--device",
        "cuda",
        "--channels",
        "2",
        "--depth",
        "3",
        cache=tmp_path,
    ).stdout
    assert "__global__" in cuda and "sigcg_tensor_log_backward_cuda" in cuda
    listing = sigcg_cli("show", "--list", cache=tmp_path).stdout
    for op in ("signature_forward", "logsignature_words", "tensor_exp", "signature_words"):
        assert op in listing
    assert sigcg_cli("--version", cache=tmp_path).stdout.startswith("sigcg ")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--channels", "2", "--depth", "2", "--ops", "logsig"], "unknown operation"),
        (["--channels", "2", "--depth", "2", "--device", "tpu"], "has no kernels"),
        (["--channels", "4-2", "--depth", "2"], "empty range"),
        (["--channels", "2", "--depth", "2", "--dtype", "f16"], "unknown dtype"),
    ],
)
def test_precompile_rejects_bad_requests(tmp_path, args, message):
    proc = sigcg_cli("precompile", *args, cache=tmp_path, check=False)
    assert proc.returncode == 2 and message in proc.stderr


def test_export_is_never_group_writable_whatever_the_umask(tmp_path):
    """sigcg refuses caches others could write, so an export made under umask 002 must still
    be usable: directories 0755, files 0644."""
    export = tmp_path / "export"
    proc = subprocess.run(
        [sys.executable, "-m", "sigcg", "precompile", *GRID, "--export", str(export)],
        env=dict(os.environ, SIGCG_CACHE_DIR=str(tmp_path / "c")),
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(0o002),
    )
    assert proc.returncode == 0, proc.stderr
    for path in [export, *export.rglob("*")]:
        assert path.stat().st_mode & 0o022 == 0, path
    code = "import torch, sigcg; sigcg.signature(torch.randn(3, 5, 2, dtype=torch.float64), 3)"
    run = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", code],
        env=dict(os.environ, SIGCG_CACHE_DIR=str(export), CC="/nonexistent/cc"),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
