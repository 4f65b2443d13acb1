"""The kernel cache under concurrency, corruption, crashes and read-only directories.

Each scenario runs in fresh processes with their own SIGCG_CACHE_DIR, as DDP ranks or
pytest-xdist workers would.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# Child prelude: counts real compiles in a shared log (O_APPEND writes are atomic).
PRELUDE = textwrap.dedent("""
    import os, sys, time, torch, sigcg, sigcg.runtime.cpu as dispatch
    _compile = dispatch.compile_extension
    def counted(*args, **kwargs):
        with open(os.environ["BUILD_LOG"], "a") as f:
            f.write(f"{os.getpid()}\\n")
        if os.environ.get("HANG_IN_COMPILE"):
            Path = __import__("pathlib").Path
            (args[3] / "partial.so").write_bytes(b"half a library")
            open(os.environ["HANG_IN_COMPILE"], "w").close()
            time.sleep(600)
        return _compile(*args, **kwargs)
    dispatch.compile_extension = counted
    x = torch.linspace(0, 1, 24, dtype=torch.float64).reshape(2, 4, 3).sin()
""")
SIG = "out = sigcg.signature(x, 3); print(repr(out.sum().item()))"


def run_child(cache, code, log, extra_env=None, wait=True):
    env = dict(os.environ, SIGCG_CACHE_DIR=str(cache), BUILD_LOG=str(log), **(extra_env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not wait:
        return proc
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out, err


def compiles(log):
    return len(Path(log).read_text().split()) if Path(log).exists() else 0


def entries(cache):
    return sorted(p.name for p in (Path(cache) / "kernels").iterdir())


def test_concurrent_processes_compile_once(tmp_path):
    log = tmp_path / "builds"
    procs = [run_child(tmp_path / "cache", SIG, log, wait=False) for _ in range(4)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert len(set(outs)) == 1
    assert compiles(log) == 1
    assert len(entries(tmp_path / "cache")) == 1
    # a later process finds it: no compile at all
    run_child(tmp_path / "cache", SIG, log)
    assert compiles(log) == 1


def test_corrupted_entry_is_rebuilt(tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "builds"
    good, _ = run_child(cache, SIG, log)
    (entry,) = (cache / "kernels").iterdir()
    meta = json.loads((entry / "meta.json").read_text())
    library = entry / meta["library"]
    library.write_bytes(library.read_bytes()[:1000])  # truncated
    again, _ = run_child(cache, SIG, log)
    assert again == good and compiles(log) == 2
    (entry / "meta.json").write_text("{not json")  # unreadable metadata
    third, _ = run_child(cache, SIG, log)
    assert third == good and compiles(log) == 3


def test_killed_compile_leaves_nothing_loadable_and_no_stuck_lock(tmp_path):
    cache, log, marker = tmp_path / "cache", tmp_path / "builds", tmp_path / "in-compile"
    victim = run_child(cache, SIG, log, {"HANG_IN_COMPILE": str(marker)}, wait=False)
    deadline = time.time() + 120
    while not marker.exists():
        assert victim.poll() is None, victim.communicate()[1]
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)  # dies holding the build lock, mid-build
    victim.wait()
    assert entries(cache) == []  # the half-built library sits in tmp/, never in kernels/
    start = time.time()
    out, _ = run_child(cache, SIG, log)
    assert time.time() - start < 60  # the dead holder's flock vanished with it
    assert float(out) == float(out) and len(entries(cache)) == 1
    # its build directory went too: its builder is provably dead (its flock was free)
    assert sorted(p.name for p in (cache / "tmp").iterdir()) == []


def test_live_lock_holder_times_out_instead_of_hanging(tmp_path):
    cache, log, marker = tmp_path / "cache", tmp_path / "builds", tmp_path / "in-compile"
    holder = run_child(cache, SIG, log, {"HANG_IN_COMPILE": str(marker)}, wait=False)
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert holder.poll() is None and time.time() < deadline
            time.sleep(0.05)
        out, err = run_child(cache, SIG, log, {"SIGCG_LOCK_TIMEOUT": "1"})
        assert "building without it" in err
        assert len(entries(cache)) == 1
    finally:
        holder.kill()
        holder.wait()


def test_unwritable_cache_falls_back_with_one_warning(tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "builds"
    run_child(cache, SIG, log)  # publish one kernel while writable
    (cache / "tmp").rename(tmp_path / "old-tmp")
    (cache / "tmp").write_text("a file where the build directory should be")  # not writable
    code = SIG + "\nout = sigcg.signature(x[..., :2], 2); print(repr(out.sum().item()))"
    out, err = run_child(cache, code, log)
    assert err.count("is not writable") == 1
    assert compiles(log) == 2  # the existing kernel loaded; only the new spec was built
    assert len(entries(cache)) == 1


def test_nothing_created_at_import(tmp_path):
    cache = tmp_path / "cache"
    subprocess.run(
        [sys.executable, "-c", "import sigcg"],
        check=True,
        env=dict(os.environ, SIGCG_CACHE_DIR=str(cache)),
    )
    assert not cache.exists()


def test_second_call_touches_no_file(tmp_path, monkeypatch):
    import torch

    import sigcg
    from sigcg.runtime import cpu as dispatch

    x = torch.randn(2, 5, 2, dtype=torch.float64)
    sigcg.signature(x, 3)
    monkeypatch.setattr(dispatch.cache, "lookup", lambda key: pytest.fail("touched the cache"))
    sigcg.signature(x, 3)


def test_missing_compiler_says_what_to_install(tmp_path):
    code = "import torch, sigcg; sigcg.signature(torch.randn(2, 4, 3), 2)"
    env = dict(os.environ, SIGCG_CACHE_DIR=str(tmp_path / "cache"), CC="/nonexistent/cc")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "CompilerNotFoundError" in proc.stderr and "apt-get install gcc" in proc.stderr
