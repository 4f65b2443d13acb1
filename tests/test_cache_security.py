"""The kernel cache as a security boundary, and its resource faults.

Each test names the finding it guards.  A second user is simulated by chown'ing files to unused
uids (root only: those tests skip otherwise), or by switching this process's effective uid for a
moment.  Most tests drive ``KernelCache`` directly with a build that writes a few bytes, so they
need no compiler; the ones about real kernels compile small ones.
"""

import errno
import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest

from sigcg.runtime import cache as cache_mod
from sigcg.runtime.cache import CacheKey, EntryMeta, KernelCache

VICTIM, OTHER = 12345, 12346  # unused uids: the user whose cache it is, and another user
as_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="simulating a second user needs root (files are chown'ed to an "
    "unused uid, or the effective uid is switched)",
)

KEY = CacheKey("a" * 24, "b" * 12)
KEY2 = CacheKey("c" * 24, "d" * 12)
META = EntryMeta(
    spec={"op": "test"}, generator_version="t", module="-", platform="any", compiler="none"
)


def writer(payload=b"library bytes", calls=None):
    def build(workdir):
        if calls is not None:
            calls.append(workdir)
        target = workdir / "lib.bin"
        target.write_bytes(payload)
        return target

    return build


def publish(root, key=KEY, payload=b"library bytes"):
    """Build an entry into a fresh, trusted cache: no warning at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return KernelCache(root).get_or_build(key, writer(payload), META)


def fetch(root, key=KEY, cache=None):
    """What a new process gets for ``key``: (entry, whether it built, warning texts)."""
    cache = cache or KernelCache(root)
    calls = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = cache.get_or_build(key, writer(b"rebuilt", calls), META)
    entry.payload = entry.library.read_bytes()  # before a fallback cache goes
    cache.discard_fallback()
    return entry, bool(calls), [str(w.message) for w in caught]


def inside(path, root):
    return Path(path).is_relative_to(root)


@contextmanager
def as_user(uid):
    """Run as ``uid`` for a moment (effective ids; the real uid stays root to switch back)."""
    os.setegid(uid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_tmp():
    """A directory in the system's temporary directory that other uids can reach (pytest's
    tmp_path sits under a 0700 directory of root's)."""
    path = Path(tempfile.mkdtemp(prefix="sigcg-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ---- 1. another user's code never runs as the victim ---------------------------------------------
PLANTED = """
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void sigcg_test_planted(void)
{ int fd = open("%s", O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd); }
"""
VICTIM_CODE = (
    "import torch, sigcg; x = torch.linspace(0, 1, 24, dtype=torch.float64)"
    ".reshape(2, 4, 3).sin(); print(repr(sigcg.signature(x, 2).sum().item()))"
)


@as_root
def test_planted_kernel_in_another_users_cache_never_runs(tmp_path, monkeypatch):
    """Finding 1, end to end: the attacker copies real entries into a cache directory it owns,
    adds a constructor to each C source, recompiles with the flags in meta.json and fixes the
    checksums.  The victim (root here) must not run it, and still gets the right answer."""
    import sysconfig

    shared, marker = tmp_path / "shared", tmp_path / "planted-code-ran"
    env = dict(os.environ, SIGCG_CACHE_DIR=str(shared))
    env.pop("SIGCG_TRUSTED_UIDS", None)
    good = subprocess.run(
        [sys.executable, "-c", VICTIM_CODE], env=env, capture_output=True, text=True, timeout=300
    )
    assert good.returncode == 0, good.stderr
    for entry in (shared / "kernels").iterdir():
        meta = json.loads((entry / "meta.json").read_text())
        source = entry / f"{meta['module']}.c"
        source.write_text(source.read_text() + PLANTED % marker)
        library = entry / meta["library"]
        subprocess.run(
            [
                os.environ.get("CC", "cc"),
                *meta["flags"],
                f"-I{sysconfig.get_paths()['include']}",
                str(source),
                "-o",
                str(library),
            ],
            check=True,
            capture_output=True,
        )
        meta["sha256"] = cache_mod.sha256_file(library)
        (entry / "meta.json").write_text(json.dumps(meta))
    for path in [shared, *shared.rglob("*")]:
        os.lchown(path, OTHER, OTHER)
    # control: the planted entries pass every other check (trusting their owner accepts them)
    monkeypatch.setenv("SIGCG_TRUSTED_UIDS", str(OTHER))
    assert all(entry is not None for _, entry in KernelCache(shared).entries())
    monkeypatch.delenv("SIGCG_TRUSTED_UIDS")

    victim = subprocess.run(
        [sys.executable, "-c", VICTIM_CODE], env=env, capture_output=True, text=True, timeout=300
    )
    assert victim.returncode == 0, victim.stderr
    assert not marker.exists()
    assert victim.stdout == good.stdout
    assert victim.stderr.count("not loading kernels from the cache") == 1
    assert "SIGCG_TRUSTED_UIDS" in victim.stderr and f"uid {OTHER}" in victim.stderr


def _chown(path, uid=OTHER):
    os.chown(path, uid, uid)


def _parent_mode(mode):
    def tamper(root, entry):
        root.parent.chmod(mode)

    return tamper


TAMPERING = {
    "root owned by another user": (True, lambda root, entry: _chown(root)),
    "root group-writable (umask 002)": (False, lambda root, entry: root.chmod(0o775)),
    "root world-writable (umask 000)": (False, lambda root, entry: root.chmod(0o777)),
    "kernels/ group-writable": (False, lambda root, entry: (root / "kernels").chmod(0o770)),
    "entry owned by another user": (True, lambda root, entry: _chown(entry)),
    "entry group-writable": (False, lambda root, entry: entry.chmod(0o775)),
    "library owned by another user": (True, lambda root, entry: _chown(entry / "lib.bin")),
    "library world-writable": (False, lambda root, entry: (entry / "lib.bin").chmod(0o646)),
    "meta.json owned by another user": (True, lambda root, entry: _chown(entry / "meta.json")),
    "ancestor owned by another user": (True, lambda root, entry: _chown(root.parent)),
    "ancestor world-writable, no sticky bit": (False, _parent_mode(0o777)),
    "ancestor group-writable, no sticky bit": (False, _parent_mode(0o775)),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_untrusted_cache_is_a_miss_with_one_warning(tmp_path, case, monkeypatch):
    """Finding 1: owner and mode of every directory from / down to the entry, and of the files
    loaded.  An untrusted entry is never loaded nor touched; the build goes to a private cache."""
    needs_root, tamper = TAMPERING[case]
    if needs_root and os.geteuid() != 0:
        pytest.skip("simulating a second user needs root (chown to an unused uid)")
    monkeypatch.delenv("SIGCG_TRUSTED_UIDS", raising=False)
    root = tmp_path / "parent" / "cache"
    entry = publish(root).path
    tamper(root, entry)
    cache = KernelCache(root)
    got, built, warned = fetch(root, cache=cache)
    assert built and not inside(got.path, root)
    assert got.payload == b"rebuilt"
    assert (entry / "lib.bin").read_bytes() == b"library bytes"  # left alone
    # one warning, naming the setting, for this and every later miss of the process
    _, built2, warned2 = fetch(root, KEY2, cache=cache)
    assert built2
    assert len(warned) == 1 and warned2 == [] and "SIGCG_TRUSTED_UIDS" in warned[0]


def test_sticky_world_writable_ancestor_is_accepted(tmp_path):
    """Finding 1, ssh's rule for the directories above the root: world-writable with the sticky
    bit (like /tmp) is fine, since nobody else can rename what is in it."""
    root = tmp_path / "parent" / "cache"
    publish(root)
    root.parent.chmod(0o1777)
    got, built, warned = fetch(root)
    assert not built and inside(got.path, root) and warned == []


@as_root
def test_trusted_uids_setting_accepts_a_listed_owner(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_warned", set())
    root = tmp_path / "cache"
    publish(root)
    for path in [root, *root.rglob("*")]:
        os.lchown(path, OTHER, OTHER)
    monkeypatch.setenv("SIGCG_TRUSTED_UIDS", f"no-such-user-here, {OTHER}")
    got, built, warned = fetch(root)
    assert not built and inside(got.path, root)
    assert len(warned) == 1 and "no-such-user-here" in warned[0]  # ignored, with a warning


def _move_entry_out(root, entry, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(entry, elsewhere)
    entry.symlink_to(elsewhere)


def _link_file(name):
    def tamper(root, entry, tmp_path):
        copy = tmp_path / f"copy-{name}"
        shutil.copy(entry / name, copy)
        (entry / name).unlink()
        (entry / name).symlink_to(copy)

    return tamper


def _link_kernels(root, entry, tmp_path):
    shutil.move(root / "kernels", tmp_path / "kernels")
    (root / "kernels").symlink_to(tmp_path / "kernels")


@pytest.mark.parametrize(
    "tamper",
    [_move_entry_out, _link_file("lib.bin"), _link_file("meta.json"), _link_kernels],
    ids=["entry", "library", "meta.json", "kernels dir"],
)
def test_symlinks_under_the_root_are_never_followed(tmp_path, tamper):
    """Finding 1: a link below the root (even to a valid entry of the user's) is untrusted."""
    root = tmp_path / "cache"
    entry = publish(root).path
    tamper(root, entry, tmp_path)
    got, built, warned = fetch(root)
    assert built and not inside(got.path, root)
    assert len(warned) == 1 and "symbolic link" in warned[0]


@pytest.mark.parametrize("where", ["absolute", "parent"])
def test_library_must_be_a_file_name_inside_the_entry(tmp_path, where):
    """Finding 1: meta.json's "library" pointing outside the entry (with a matching checksum)
    makes the entry bad: it is rebuilt in place, and the outside file is never used."""
    root = tmp_path / "cache"
    entry = publish(root).path
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"library bytes")
    meta = json.loads((entry / "meta.json").read_text())
    meta["library"] = str(outside) if where == "absolute" else "../../../outside.bin"
    (entry / "meta.json").write_text(json.dumps(meta))
    got, built, warned = fetch(root)
    assert built and got.path == entry and got.library == entry / "lib.bin" and warned == []


def test_find_compatible_accepts_only_real_toolchain_keys(tmp_path):
    """Finding 1: ``<source>-<anything>`` is not an entry of that source; neither is an entry
    whose meta.json names another key or another module."""
    root = tmp_path / "cache"
    source = "e" * 24
    publish(root, CacheKey(source, "anything"))
    cache = KernelCache(root)
    assert cache.find_compatible(source, "any", []) is None
    renamed = root / "kernels" / f"{source}-0123456789ab"
    (root / "kernels" / f"{source}-anything").rename(renamed)
    assert cache.find_compatible(source, "any", []) is None  # meta.json names the old key
    shutil.rmtree(renamed)
    publish(root, CacheKey(source, "0123456789ab"))
    assert cache.find_compatible(source, "any", []).path == renamed
    assert cache.find_compatible(source, "any", [], module=lambda key: "_sigcg_x") is None


# ---- 2. stale build directories: never removed through a symlink ---------------------------------
def test_stale_cleanup_never_follows_a_symlink(tmp_path):
    root = tmp_path / "cache"
    publish(root)
    work = tmp_path / "work"
    old = time.time() - 3 * 86400
    for name in ("project", "0123456789abcdef-abcdefgh", "b-0123456789abcdef-0123"):
        (work / name).mkdir(parents=True)
        (work / name / "data.txt").write_text("precious")
        os.utime(work / name, (old, old))
    before = sorted(map(str, work.rglob("*")))

    shutil.rmtree(root / "tmp")
    (root / "tmp").symlink_to(work)  # tmp/ itself a link to the user's work
    got, built, warned = fetch(root, KEY2)
    assert built and not inside(got.path, root) and "symbolic link" in warned[0]
    assert sorted(map(str, work.rglob("*"))) == before

    (root / "tmp").unlink()
    (root / "tmp").mkdir(mode=0o700)
    for name in ("trash-0", "b-0123456789abcdef-0123", "0123456789abcdef-abcdefgh"):
        (root / "tmp" / name).symlink_to(work / name if (work / name).exists() else work)
    legacy = root / "tmp" / "fedcba9876543210-abcdefgh"  # an old build dir holding a link
    legacy.mkdir()
    (legacy / "link").symlink_to(work)
    os.utime(legacy, (old, old))
    got, built, warned = fetch(root, CacheKey("f" * 24, "0" * 12))
    assert built and inside(got.path, root) and warned == []
    assert sorted(map(str, work.rglob("*"))) == before  # every target intact
    assert sorted(p.name for p in (root / "tmp").iterdir()) == []  # the links and the old dir


# ---- 3. lock files never follow symlinks ---------------------------------------------------------
def test_lock_files_never_follow_symlinks(tmp_path):
    root = tmp_path / "cache"
    publish(root)
    target = tmp_path / "created-by-the-victim"
    lock = root / "locks" / f"{KEY2.name}.lock"
    lock.symlink_to(target)
    got, built, warned = fetch(root, KEY2)
    assert built and inside(got.path, root) and warned == []
    assert not os.path.lexists(target)
    assert stat.S_ISREG(os.lstat(lock).st_mode) and stat.S_IMODE(os.lstat(lock).st_mode) == 0o600


# ---- 4. a foreign private entry is a miss, not a crash; the default cache is private ------------
@as_root
def test_foreign_private_entry_is_a_miss_not_a_crash(shared_tmp):
    root = shared_tmp / "cache"
    os.chown(shared_tmp, VICTIM, VICTIM)
    with as_user(VICTIM):
        entry = publish(root).path
    for path in [entry, *entry.iterdir()]:
        os.chown(path, OTHER, OTHER)
    entry.chmod(0o700)
    with as_user(VICTIM):
        cache = KernelCache(root)
        with pytest.raises(PermissionError):
            os.listdir(entry)  # what used to crash the victim
        got, built, warned = fetch(root, cache=cache)
        assert built and not inside(got.path, root)
        assert len(warned) == 1 and f"uid {OTHER}" in warned[0]
        assert "SIGCG_TRUSTED_UIDS" in warned[0]
        rows = cache.scan()
        assert [problem.split(":")[0] for _, _, problem in rows] == ["untrusted"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000])
def test_default_cache_is_private(tmp_path, monkeypatch, umask):
    for name in ("SIGCG_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(mode=0o755)
    previous = os.umask(umask)
    try:
        cache = KernelCache()
        got, built, warned = fetch(None, cache=cache)
    finally:
        os.umask(previous)
    root = tmp_path / "home" / ".cache" / "sigcg"
    assert cache.root == root and built and got.path == root / "kernels" / KEY.name and not warned
    for path in (root.parent, root, root / "kernels", root / "locks", root / "tmp"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    # entries: readable (an exported copy is shared), writable by their owner only
    assert stat.S_IMODE(got.path.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in got.path.iterdir()} == {0o644}


@as_root
def test_root_owned_exported_cache_serves_another_user(shared_tmp):
    """The exported-cache workflow: a cache written by root (an image build) is read by a user
    without a compiler; what it lacks is built in a private fallback, without a crash."""
    root = shared_tmp / "export"
    source = "9" * 24
    publish(root, CacheKey(source, "0123456789ab"))
    for path in [root, *root.iterdir()]:
        path.chmod(0o755)  # as `precompile --export` leaves it
    with as_user(VICTIM):
        cache = KernelCache(root)
        assert cache.find_compatible(source, "any", []) is not None
        got, built, warned = fetch(root, KEY2, cache=cache)
    assert built and not inside(got.path, root)
    assert len(warned) == 1 and "is not writable" in warned[0]


# ---- 9. a full disk falls back to a private directory -------------------------------------------
def _out_of_space():
    from sigcg.runtime.compiler import CompileError

    return [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)),
        OSError(errno.EACCES, os.strerror(errno.EACCES)),
        CompileError(
            "compiling _sigcg_x failed (exit 1).\n/usr/bin/ld: final link failed: "
            "No space left on device\ncollect2: error: ld returned 1 exit status"
        ),
    ]


@pytest.mark.parametrize("failure", _out_of_space(), ids=["ENOSPC", "EDQUOT", "EACCES", "linker"])
def test_out_of_space_in_a_build_falls_back_with_one_warning(tmp_path, failure):
    """Finding 9, simulated at the build step (the tmpfs test below does it for real)."""
    root = tmp_path / "cache"
    calls = []

    def build(workdir):
        calls.append(workdir)
        if inside(workdir, root):
            raise failure
        return writer()(workdir)

    cache = KernelCache(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = cache.get_or_build(KEY, build, META)
        second = cache.get_or_build(KEY2, build, META)
    try:
        assert [inside(w, root) for w in calls] == [True, False, False]
        assert not inside(first.path, root) and not inside(second.path, root)
        assert len(caught) == 1 and "is not writable" in str(caught[0].message)
        assert cache_mod._describe(failure) in str(caught[0].message)
        assert list((root / "kernels").iterdir()) == [] and list((root / "tmp").iterdir()) == []
    finally:
        cache.discard_fallback()


def test_no_space_anywhere_is_a_clear_error(tmp_path):
    cache = KernelCache(tmp_path / "cache")

    def build(workdir):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    try:
        with (
            pytest.warns(RuntimeWarning, match="is not writable"),
            pytest.raises(RuntimeError, match="cannot build kernels.*No space left"),
        ):
            cache.get_or_build(KEY, build, META)
    finally:
        cache.discard_fallback()


def test_other_build_errors_do_not_fall_back(tmp_path):
    cache = KernelCache(tmp_path / "cache")

    def build(workdir):
        raise RuntimeError("a syntax error")

    with pytest.raises(RuntimeError, match="a syntax error"):
        cache.get_or_build(KEY, build, META)
    assert cache._fallback is None


@contextmanager
def small_tmpfs(path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(mount, leave=0):
    fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    size = os.fstat(fd).st_size
    os.ftruncate(fd, max(0, size - leave))
    os.close(fd)


@pytest.mark.parametrize("leave", ["nothing", "room for the C source"])
def test_full_disk_falls_back_for_real(tmp_path, monkeypatch, leave):
    """Finding 9 on a real 1 MiB tmpfs: with no space at all the C source cannot be written
    (OSError), with room for the source only the linker fails (CompileError)."""
    from sigcg import codegen
    from sigcg.runtime import cpu as dispatch

    spec = codegen.KernelSpec("signature_forward", 2, 3, "float64")
    failures = []
    compile_extension = dispatch.compile_extension

    def recorded(*args):
        try:
            return compile_extension(*args)
        except Exception as exc:
            failures.append(type(exc).__name__)
            raise

    monkeypatch.setattr(dispatch, "compile_extension", recorded)
    leave_bytes = 0
    if leave != "nothing":  # measure the C source: it must fit, the library must not
        monkeypatch.setattr(dispatch, "cache", KernelCache(tmp_path / "measure"))
        entry, _ = dispatch.find_or_build(spec)
        c_size = (entry.path / f"{entry.meta['module']}.c").stat().st_size
        leave_bytes = -(-c_size // 4096) * 4096 + 8192
    with small_tmpfs(tmp_path / "small") as mount:
        _fill(mount, leave_bytes)
        cache = KernelCache(mount / "cache")
        monkeypatch.setattr(dispatch, "cache", cache)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                entry, built = dispatch.find_or_build(spec)
            assert built and not inside(entry.path, mount)
            assert len(caught) == 1 and "No space left on device" in str(caught[0].message)
            if leave != "nothing":
                assert failures == ["CompileError"]
            tmp = mount / "cache" / "tmp"
            assert not tmp.exists() or list(tmp.iterdir()) == []
        finally:
            cache.discard_fallback()


# ---- 10. settings from the environment: a warning and the default, never a hang or a crash ------
@pytest.mark.parametrize("value", ["nan", "abc", "inf", "-1", "", "2.5"])
def test_lock_timeout_setting(monkeypatch, value):
    monkeypatch.setattr(cache_mod, "_warned", set())
    monkeypatch.setenv("SIGCG_LOCK_TIMEOUT", value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        timeout = cache_mod.lock_timeout()
    good = value in ("", "2.5")
    assert timeout == (2.5 if value == "2.5" else cache_mod.DEFAULT_LOCK_TIMEOUT_S)
    assert len(caught) == (0 if good else 1)
    assert good or "SIGCG_LOCK_TIMEOUT" in str(caught[0].message)


def test_nan_lock_timeout_does_not_wait_forever(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    publish(root)
    monkeypatch.setattr(cache_mod, "_warned", set())
    monkeypatch.setattr(cache_mod, "DEFAULT_LOCK_TIMEOUT_S", 0.3)
    monkeypatch.setenv("SIGCG_LOCK_TIMEOUT", "nan")
    with open(root / "locks" / f"{KEY2.name}.lock", "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a builder that hangs
        start = time.monotonic()
        got, built, warned = fetch(root, KEY2)
    assert built and time.monotonic() - start < 30
    assert any("building without it" in w for w in warned)


def test_bad_settings_never_break_import(tmp_path):
    env = dict(
        os.environ,
        SIGCG_LOCK_TIMEOUT="abc",
        SIGCG_TRUSTED_UIDS="nobody-at-all",
        SIGCG_CACHE_DIR=str(tmp_path / "cache"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import sigcg.runtime.cache, sigcg"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "cache").exists()


# ---- 11. where the cache is --------------------------------------------------------------------
def test_cache_location(tmp_path, monkeypatch):
    for name in ("SIGCG_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid):
        raise KeyError(uid)

    monkeypatch.setattr(cache_mod.pwd, "getpwuid", no_entry)  # a uid without a passwd entry
    private = Path(tempfile.gettempdir(), f"sigcg-{os.geteuid()}")
    assert cache_mod.default_root() == private  # not ./~/.cache/sigcg
    monkeypatch.setenv("HOME", "relative/home")
    assert cache_mod.default_root() == private
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative-xdg")  # the XDG spec: ignored
    assert cache_mod.default_root() == tmp_path / "home" / ".cache" / "sigcg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.default_root() == tmp_path / "xdg" / "sigcg"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIGCG_CACHE_DIR", "relative-cache")
    cache = KernelCache()
    assert cache.root == tmp_path / "relative-cache"  # absolute, resolved at first use
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    got, built, _ = fetch(None, cache=cache)
    assert cache.root == tmp_path / "relative-cache" and got.path.parent.parent == cache.root
    assert not (tmp_path / "elsewhere" / "relative-cache").exists()


# ---- 12. entries that cannot load are rebuilt, and `cache verify` says so -----------------------
def test_entries_that_cannot_load_are_rebuilt_and_reported(tmp_path, monkeypatch, capsys):
    from sigcg import codegen
    from sigcg.runtime import cpu as dispatch
    from sigcg.tools.cli import main

    monkeypatch.setattr(dispatch, "cache", KernelCache(tmp_path / "cache"))
    spec = codegen.KernelSpec("signature_forward", 2, 2, "float64")
    entry, built = dispatch.find_or_build(spec)
    assert built
    meta_file = entry.path / "meta.json"
    good_meta = json.loads(meta_file.read_text())

    def breaks(change):
        meta = dict(good_meta)
        change(meta)
        meta_file.write_text(json.dumps(meta))

    breaks(lambda meta: meta.pop("module"))
    assert main(["cache", "list"]) == 0 and "BAD ENTRY" in capsys.readouterr().out
    assert dispatch.find_or_build(spec)[1]  # rebuilt, not loaded
    breaks(lambda meta: meta.update(module="_sigcg_wrong"))
    main(["cache", "verify"])
    out = capsys.readouterr().out
    assert "removed 1 bad" in out and "_sigcg_wrong" in out
    assert dispatch.find_or_build(spec)[1]

    # a library that passes every static check yet does not load: rejected, rebuilt, loaded
    library = entry.path / good_meta["library"]
    library.write_bytes(b"not an ELF file; PyInit_" + good_meta["module"].encode() + b"\0")
    breaks(lambda meta: meta.update(sha256=cache_mod.sha256_file(library)))
    with pytest.warns(RuntimeWarning, match="does not load"):
        kernel = dispatch.load(spec)
    assert kernel.functions
    assert main(["cache", "verify"]) == 0 and "removed 0 bad" in capsys.readouterr().out


# ---- 13. nothing is left behind: fallback caches, dead builders' directories --------------------
FALLBACK_CHILD = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("cache", sys.argv[1])
cache = sys.modules["cache"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cache)
def build(workdir):
    (workdir / "lib.bin").write_bytes(b"x")
    return workdir / "lib.bin"
c = cache.KernelCache(sys.argv[2])
entry = c.get_or_build(cache.CacheKey("a" * 24, "b" * 12), build,
                       cache.EntryMeta({}, "t", "-", "any", "none"))
print(entry.path.parent.parent, flush=True)
if len(sys.argv) > 3:
    time.sleep(600)
"""


def test_fallback_caches_are_removed_at_exit_and_after_a_kill(tmp_path):
    unwritable = tmp_path / "not-a-directory"
    unwritable.write_text("")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    cmd = [sys.executable, "-c", FALLBACK_CHILD, cache_mod.__file__, str(unwritable)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr.count("is not writable") == 1, proc.stderr
    assert inside(proc.stdout.strip(), tmpdir) and list(tmpdir.iterdir()) == []  # removed at exit

    killed = subprocess.Popen(cmd + ["hang"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        left = Path(killed.stdout.readline().strip())
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        killed.stdout.close()
    assert left.is_dir()
    # an older sigcg's fallback (no owner lock): removed once a day old, like its build dirs
    legacy_old, legacy_young = tmpdir / "sigcg-cache-old", tmpdir / "sigcg-cache-young"
    for legacy in (legacy_old, legacy_young):
        (legacy / "kernels").mkdir(parents=True)
    os.utime(legacy_old, (time.time() - 2 * 86400,) * 2)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0  # the dead one swept too:
    assert [p.name for p in tmpdir.iterdir()] == [legacy_young.name]


def test_build_directories_of_dead_builders_are_removed(tmp_path):
    root = tmp_path / "cache"
    publish(root)
    tmp = root / "tmp"
    dead = tmp / "b-0123456789abcdef-dead"
    dead.mkdir()
    (dead / "partial.so").write_bytes(b"half a library")
    (tmp / "b-0123456789abcdef-dead.lock").touch()  # its builder died: nobody holds the lock
    alive = tmp / "b-0123456789abcdef-live"
    alive.mkdir()
    young = tmp / "0123456789abcdef-abcdefgh"  # an older sigcg's build dir: by age only
    young.mkdir()
    old = tmp / "fedcba9876543210-abcdefgh"
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    with open(tmp / "b-0123456789abcdef-live.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a live builder
        fetch(root, KEY2)
        assert sorted(p.name for p in tmp.iterdir()) == sorted(
            [alive.name, alive.name + ".lock", young.name]
        )
