"""The on-disk kernel cache: shared safely by many processes, and a security boundary.

Layout under the cache root (``SIGCG_CACHE_DIR``; else ``$XDG_CACHE_HOME/sigcg`` when that is an
absolute path; else ``~/.cache/sigcg`` (macOS: ``~/Library/Caches/sigcg``); a user without a
home directory gets ``<tempdir>/sigcg-<uid>``).  The root is made absolute and its symbolic
links resolved once, at first use, so ``os.chdir`` never switches caches::

    kernels/<source>-<tc>/    one published entry (source key, toolchain key): the shared object,
                              its C source, meta.json
    locks/<key>.lock          flock target; the kernel drops the lock when its holder dies
    tmp/b-<key>-<rand>/       a private build directory, beside b-<key>-<rand>.lock, which its
                              builder holds flock'ed while it lives
    tmp/trash-<rand>          an entry being deleted

The cache holds executable code: a kernel's shared object runs with the rights of whoever loads
it.  So an entry is loaded only if it is *trusted*:

  * every directory from ``/`` down to the cache root's parent is owned by the current user, root
    or a uid listed in ``SIGCG_TRUSTED_UIDS``, and is not writable by group or others unless it has
    the sticky bit (as /tmp has); a symbolic link on the way to the root must be owned by one of
    those users too;
  * the root and every directory below it down to the entry, the entry's ``meta.json`` and its
    library are owned by one of those users and are not writable by group or others (sticky bit or
    not), and none of them is a symbolic link: every path below the root is opened relative to its
    parent's descriptor with ``O_NOFOLLOW``;
  * ``meta.json`` names the entry's own key, its ``library`` is a plain file name inside the entry,
    the library's SHA-256 matches, and a Python extension defines the module ``meta.json`` names.

An untrusted root or entry is a miss, reported by one warning (naming SIGCG_TRUSTED_UIDS) per
process; it is never modified, and this process builds what it needs in a private fallback cache
(a 0700 temporary directory, removed at exit; one left by a killed process is removed by the next
process that needs a fallback).

Rules that keep every reader safe:
  * an entry is built in a private ``tmp/`` directory and published with one ``os.replace`` of the
    whole directory, ``meta.json`` (with the shared object's SHA-256) written last inside it; an
    incomplete or corrupt entry is a miss and is rebuilt, so a truncated file is never loaded;
  * builders of one key serialise on ``flock`` with a timeout (``SIGCG_LOCK_TIMEOUT`` seconds,
    default 300); a crashed holder's lock vanishes with it, and a holder that hangs past the
    timeout is ignored (the build goes ahead and the atomic rename settles any race).  Where
    ``flock`` fails (some NFS, Lustre and FUSE mounts: ENOLCK, EOPNOTSUPP, ENOSYS) builders
    serialise on POSIX record locks (``lockf``, which NFS servers with lockd honour) plus a
    per-process lock (record locks do not exclude threads of one process); where neither works
    (or ``fcntl`` is missing) they build unlocked, with one warning.  A builder looks for a
    finished entry again just before publishing and uses it if there is one, so without locks
    a race costs duplicate compiles, never a half-written or unverified kernel;
  * a build directory is removed as soon as its builder is provably dead (its flock is free), and
    nothing under the cache root is ever removed through a symbolic link;
  * nothing is created until the first build; directories are created 0700, published entries are
    0755 with 0644/0755 files (readable, so that ``sigcg precompile --export`` copies can be shared;
    the 0700 root keeps a private cache private);
  * a cache root that cannot be written (read-only, full disk, quota, permissions, at any step of a
    build) falls back, with one warning, to the private fallback cache; entries already in the
    root still load.
"""

from __future__ import annotations

import atexit
import errno
import functools
import hashlib
import importlib.machinery
import json
import math
import os
import pwd
import re
import secrets
import stat
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: builds go unlocked (see _try_lock)
    fcntl = None  # type: ignore[assignment]

META = "meta.json"
SUBDIRS = ("kernels", "locks", "tmp")
TRUSTED_UIDS_ENV = "SIGCG_TRUSTED_UIDS"
DEFAULT_LOCK_TIMEOUT_S = 300.0
_STALE_TMP_S = 24 * 3600  # build directories without a builder lock (older sigcg versions)
_ORPHAN_S = 60  # leftovers of an interrupted removal

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = os.O_NOFOLLOW | _CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW  # a directory we list or create in
_WALK = (getattr(os, "O_PATH", 0) or os.O_RDONLY) | os.O_DIRECTORY | _NOFOLLOW  # search only
_FILE = os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW
_EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_LEGACY_BUILD = re.compile(r"[0-9a-z]{1,16}-[a-z0-9_]{8}\Z")  # tempfile.mkdtemp(prefix=key[:16]-)


@dataclass(frozen=True)
class CacheKey:
    """Names an entry: ``source`` hashes everything the generated source depends on (the spec
    and the generator, codegen/identity.py); ``toolchain`` hashes what turned it into a binary
    (compiler identity and flags, platform; or NVRTC version and GPU architecture)."""

    source: str
    toolchain: str

    @property
    def name(self) -> str:
        return f"{self.source}-{self.toolchain}"


@dataclass(frozen=True)
class EntryMeta:
    """What ``meta.json`` records besides the key, the library name and its checksum."""

    spec: dict
    generator_version: str
    module: str  # the Python extension module's name, or the CUDA functions it holds
    platform: str  # what a loader must match to use the binary (platform tag or CUDA arch)
    compiler: str
    flags: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return dict(asdict(self), flags=list(self.flags))


class UntrustedCacheError(RuntimeError):
    """The cache root fails the trust checks (see the module docstring)."""


class _Untrusted(Exception):
    """A directory or file fails the trust checks; the message says which and why."""


class _EntryUntrusted(_Untrusted):
    """One entry fails the trust checks (its root is fine)."""


# ---- settings from the environment: never an exception, a warning and the default instead ----
_warned: set = set()
_warned_lock = threading.Lock()


def _warn_once(tag, message: str) -> None:
    with _warned_lock:
        if tag in _warned:
            return
        _warned.add(tag)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def lock_timeout() -> float:
    """Seconds a builder waits for another builder's lock (``SIGCG_LOCK_TIMEOUT``, default 300).
    Anything but a finite number >= 0 gets one warning and the default: never waits forever."""
    text = os.environ.get("SIGCG_LOCK_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and value >= 0:
        return value
    _warn_once(
        ("SIGCG_LOCK_TIMEOUT", text),
        f"sigcg: SIGCG_LOCK_TIMEOUT={text!r} is not a finite number of seconds >= 0; "
        f"using the default {DEFAULT_LOCK_TIMEOUT_S:.0f} s",
    )
    return DEFAULT_LOCK_TIMEOUT_S


def trusted_uids() -> frozenset[int]:
    """Who may own the cache's directories and files: this process's effective user, root, and
    the users listed in ``SIGCG_TRUSTED_UIDS`` (numeric uids or user names, separated by commas
    or spaces).  Unknown names get one warning and are ignored."""
    uids = {os.geteuid(), 0}
    text = os.environ.get(TRUSTED_UIDS_ENV, "")
    unknown = []
    for word in re.split(r"[\s,]+", text.strip()):
        if not word:
            continue
        if word.isdecimal() and int(word) < 2**32:
            uids.add(int(word))
            continue
        try:
            uids.add(pwd.getpwnam(word).pw_uid)
        except (KeyError, UnicodeError, ValueError):
            unknown.append(word)
    if unknown:
        _warn_once(
            (TRUSTED_UIDS_ENV, text),
            f"sigcg: {TRUSTED_UIDS_ENV}={text!r}: ignoring {', '.join(map(repr, unknown))} "
            f"(neither a numeric uid nor a known user name)",
        )
    return frozenset(uids)


def _home() -> str | None:
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return home
    try:
        home = pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return None
    return home if os.path.isabs(home) else None


def default_root() -> Path:
    """The cache root the environment asks for, as an absolute path (not yet resolved)."""
    env = os.environ.get("SIGCG_CACHE_DIR", "")
    if env:
        path = os.path.expanduser(env)
        if "\0" not in path:
            return Path(os.path.abspath(path))
        _warn_once(("SIGCG_CACHE_DIR", env), "sigcg: SIGCG_CACHE_DIR contains a NUL byte; ignored")
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg) and "\0" not in xdg:  # the XDG spec: a relative value is ignored
        return Path(os.path.abspath(xdg), "sigcg")
    home = _home()
    if home is not None:
        if sys.platform == "darwin":  # where platformdirs puts user caches on macOS
            return Path(os.path.abspath(home), "Library", "Caches", "sigcg")
        return Path(os.path.abspath(home), ".cache", "sigcg")
    return Path(tempfile.gettempdir(), f"sigcg-{os.geteuid()}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def disk_usage(path: Path) -> int:
    """Bytes in the regular files under ``path``, never following a symbolic link."""
    total = 0
    for top, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


class CacheEntry:
    """A published, verified entry."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.meta = meta

    @property
    def library(self) -> Path:
        return self.path / self.meta["library"]


@dataclass
class _Found:
    status: str  # "ok", "missing", "bad" (rebuilt in place) or "untrusted" (never touched)
    entry: CacheEntry | None = None
    reason: str = ""


# ---- trust checks -------------------------------------------------------------------------------
def _owner(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def _check_dir(st: os.stat_result, path, uids, sticky_ok: bool) -> None:
    if not stat.S_ISDIR(st.st_mode):
        raise _Untrusted(f"{path} is not a directory")
    if st.st_uid not in uids:
        raise _Untrusted(f"{path} is owned by {_owner(st.st_uid)}")
    if st.st_mode & 0o022 and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        who = "others" if st.st_mode & 0o002 else "its group"
        raise _Untrusted(
            f"{path} is writable by {who}" + (" and has no sticky bit" if sticky_ok else "")
        )


def _check_file(st: os.stat_result, path, uids) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise _Untrusted(f"{path} is not a regular file")
    if st.st_uid not in uids:
        raise _Untrusted(f"{path} is owned by {_owner(st.st_uid)}")
    if st.st_mode & 0o022:
        raise _Untrusted(f"{path} is writable by {'others' if st.st_mode & 0o002 else 'its group'}")


def _symlink_problem(path: Path, uids) -> str | None:
    """Why a symbolic link on the way to ``path`` cannot be trusted, if one cannot: its owner
    could point it elsewhere.  (The directories it leads to are checked by the walk.)"""
    here = "/"
    for part in path.parts[1:]:
        nxt = os.path.join(here, part)
        try:
            st = os.lstat(nxt)
        except OSError:
            return None  # the rest does not exist yet
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid not in uids:
                return f"{nxt} is a symbolic link owned by {_owner(st.st_uid)}"
            here = os.path.realpath(nxt)
        else:
            here = nxt
    return None


def _open_checked(dir_fd: int, name: str, path, uids, mode_checks=True) -> int:
    """A descriptor of the regular file ``name`` in ``dir_fd``, never through a symbolic link,
    owned by a trusted user and writable by nobody else (``mode_checks``)."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        raise _Untrusted(f"{path / name} is a symbolic link")
    if mode_checks:
        _check_file(st, path / name, uids)
    fd = os.open(name, _FILE, dir_fd=dir_fd)
    try:
        st2 = os.fstat(fd)
        if not os.path.samestat(st, st2):
            raise _Untrusted(f"{path / name} changed while it was checked")
        if mode_checks:
            _check_file(st2, path / name, uids)
        elif not stat.S_ISREG(st2.st_mode):
            raise _Untrusted(f"{path / name} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_checked(dir_fd: int, name: str, path, uids, mode_checks=True) -> bytes:
    fd = _open_checked(dir_fd, name, path, uids, mode_checks)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _meta_problem(meta, name: str, expect: dict | None) -> str | None:
    if not isinstance(meta, dict):
        return "meta.json is not an object"
    for field in ("key", "library", "sha256", "module", "platform"):
        if not isinstance(meta.get(field), str):
            return f"meta.json has no {field!r}"
    if not isinstance(meta.get("spec"), dict):
        return "meta.json has no 'spec'"
    if meta["key"] != name:
        return f"meta.json describes {meta['key']!r}, not {name!r}"
    library = meta["library"]
    if not (
        library not in ("", ".", "..", META)
        and "/" not in library
        and "\0" not in library
        and (os.altsep is None or os.altsep not in library)
    ):
        return f"its library {library!r} is not a file name inside the entry"
    for field, value in (expect or {}).items():
        if meta.get(field) != value:
            return f"its {field} is {meta.get(field)!r}, expected {value!r}"
    return None


def _declaration_problem(meta: dict, data: bytes) -> str | None:
    """A Python extension must define the module meta.json names (else it can never load)."""
    if not meta["library"].endswith(_EXTENSION_SUFFIXES):
        return None
    module = meta["module"]
    if not module.isidentifier():
        return f"its module name {module!r} is not an identifier"
    if b"PyInit_" + module.encode() + b"\0" not in data:
        return f"its library does not define the module {module!r}"
    return None


# ---- file operations relative to directory descriptors -----------------------------------------
@contextmanager
def _closing(fd: int):
    try:
        yield fd
    finally:
        os.close(fd)


def _remove_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd`` (a tree, a file or a link), never following a symbolic link:
    each directory is opened with O_NOFOLLOW and checked to be the one that was listed."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dir_fd)
            return
        fd = os.open(name, _DIR, dir_fd=dir_fd)
        try:
            if not os.path.samestat(st, os.fstat(fd)):
                return
            for child in os.listdir(fd):
                _remove_at(fd, child)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        pass


def _write_new(dir_fd: int, name: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _seal(work_fd: int, workdir: Path) -> None:
    """Make what a build left readable and writable by its owner only: files 0644 (0755 when
    executable), never a link or a directory (nothing that a reader would have to follow)."""
    for name in os.listdir(work_fd):
        st = os.stat(name, dir_fd=work_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise RuntimeError(
                f"sigcg: the build left {workdir / name}, which is not a regular "
                f"file; a cache entry holds regular files only"
            )
        fd = os.open(name, _FILE, dir_fd=work_fd)
        try:
            os.fchmod(fd, 0o755 if st.st_mode & 0o100 else 0o644)
        finally:
            os.close(fd)


# errno values saying "this filesystem does not lock", as opposed to "someone else holds it"
_NO_LOCKING = frozenset(
    e
    for e in (
        getattr(errno, name, None)
        for name in ("ENOLCK", "EOPNOTSUPP", "ENOTSUP", "ENOSYS", "EINVAL", "EBADF", "EIO")
    )
    if e is not None
)
_BUSY = (errno.EAGAIN, errno.EACCES)
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(name: str) -> threading.Lock:
    """The lock that threads of this process building ``name`` share (record locks are
    per process, so ``lockf`` alone would let two threads of one process in together)."""
    with _process_locks_guard:
        return _process_locks.setdefault(name, threading.Lock())


def _try_lock(fd: int) -> str | bool | None:
    """Try once to lock ``fd`` exclusively without blocking: the method that took it ("flock",
    "lockf" or "msvcrt"), False while another process holds it, None when this filesystem or
    platform locks nothing.  flock first (its locks belong to the open file, so a dead holder's
    lock vanishes with it); POSIX record locks where flock fails (NFS without flock emulation,
    Lustre mounted without -o flock)."""
    if fcntl is None:
        try:
            import msvcrt  # type: ignore[import-not-found,unused-ignore]

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
            return "msvcrt"
        except ImportError:
            return None
        except OSError as exc:
            return False if exc.errno in (*_BUSY, errno.EDEADLK) else None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return "flock"
    except OSError as exc:
        if exc.errno in _BUSY:
            return False
        if exc.errno not in _NO_LOCKING:
            return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return "lockf"
    except OSError as exc:
        return False if exc.errno in _BUSY else None


def _unlock(fd: int, method: str) -> None:
    with suppress(OSError):
        if method == "flock":
            fcntl.flock(fd, fcntl.LOCK_UN)
        elif method == "lockf":
            fcntl.lockf(fd, fcntl.LOCK_UN)
        elif method == "msvcrt":
            import msvcrt  # type: ignore[import-not-found,unused-ignore]

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]


def _flock_nb(fd: int) -> None:
    """flock(fd, LOCK_EX | LOCK_NB), or OSError(ENOSYS) where there is no fcntl."""
    if fcntl is None:
        raise OSError(errno.ENOSYS, "no flock on this platform")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _open_lock(dir_fd: int, name: str) -> int | None:
    """A descriptor to flock: ``name`` in ``dir_fd``, created 0600, never through a symbolic link
    (a link or any other non-file in its place is removed first).  None: build unlocked."""
    for _ in range(3):
        try:
            fd = os.open(
                name, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | _NOFOLLOW, 0o600, dir_fd=dir_fd
            )
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.ENOTDIR):
                _remove_at(dir_fd, name)
                continue
            if exc.errno in (errno.EACCES, errno.EPERM):  # another trusted user's lock file
                try:
                    fd = os.open(name, _FILE, dir_fd=dir_fd)
                except OSError:
                    return None
            else:
                raise
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        _remove_at(dir_fd, name)
    return None


def _builder_alive(dir_fd: int, lock_name: str) -> bool | None:
    """Whether the process that holds ``lock_name`` flock'ed lives: False when the lock is free
    (its builder is dead), None when it cannot be told (no lock file, no flock here)."""
    try:
        fd = os.open(lock_name, _FILE, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        _flock_nb(fd)  # never lockf: closing this descriptor would drop our own record locks
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)
    return False


def _clean_tmp(tmp_fd: int) -> None:
    """Remove what dead builders and interrupted removals left in ``tmp/``: a build directory as
    soon as its builder's lock is free, one without a lock (older sigcg) after 24 h.  Only this
    user's files, only names sigcg makes, and never through a symbolic link."""
    now, me = time.time(), os.geteuid()
    try:
        names = set(os.listdir(tmp_fd))
    except OSError:
        return
    for name in names:
        try:
            st = os.stat(name, dir_fd=tmp_fd, follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid != me:
            continue
        age = now - st.st_mtime
        if stat.S_ISLNK(st.st_mode):
            _remove_at(tmp_fd, name)  # sigcg makes none: only the link goes, never its target
        elif name.startswith("trash-"):
            if age > _ORPHAN_S:
                _remove_at(tmp_fd, name)
        elif name.startswith("b-") and name.endswith(".lock"):
            if name[:-5] not in names and age > _ORPHAN_S and _builder_alive(tmp_fd, name) is False:
                _remove_at(tmp_fd, name)
        elif name.startswith("b-") and stat.S_ISDIR(st.st_mode):
            alive = _builder_alive(tmp_fd, name + ".lock")
            if alive is False or (alive is None and age > _STALE_TMP_S):
                _remove_at(tmp_fd, name)
                _remove_at(tmp_fd, name + ".lock")
        elif stat.S_ISDIR(st.st_mode) and _LEGACY_BUILD.match(name) and age > _STALE_TMP_S:
            _remove_at(tmp_fd, name)


def _make_workdir(tmp_fd: int, key: str) -> tuple[str, int]:
    """A new private build directory in ``tmp/`` and the descriptor of its lock file, flock'ed
    before the directory exists, so a cleaner never sees the directory with a free lock while
    its builder lives."""
    for _ in range(100):
        name = f"b-{key[:16]}-{secrets.token_hex(6)}"
        try:
            lock = os.open(
                name + ".lock", os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=tmp_fd
            )
        except FileExistsError:
            continue
        try:
            with suppress(OSError):  # no flock on this filesystem: removed by age only
                _flock_nb(lock)
            os.mkdir(name, 0o700, dir_fd=tmp_fd)
        except BaseException:
            os.close(lock)
            _remove_at(tmp_fd, name + ".lock")
            raise
        return name, lock
    raise FileExistsError(errno.EEXIST, "no free build directory name", "tmp")


_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
_DISK_MESSAGES = tuple(os.strerror(e) for e in _DISK_ERRNOS)


def _out_of_resources(exc: BaseException) -> bool:
    """A failure that another directory would not have: full disk, quota, permissions, read-only
    (an OSError with that errno, or a compiler's or linker's message naming it)."""
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return True
    text = str(exc)
    return any(message in text for message in _DISK_MESSAGES) or "Disk quota exceeded" in text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    for message in _DISK_MESSAGES:
        if message in str(exc):
            return message
    return f"{type(exc).__name__}: {exc}"


# ---- fallback directories ---------------------------------------------------------------------
_FALLBACK_PREFIX = "sigcg-cache-"
_FALLBACK_OWNER = ".owner"


def _sweep_dead_fallbacks(tmpdir: str) -> None:
    """Remove this user's fallback caches whose process is dead (its ``.owner`` flock is free),
    and those of older sigcg versions (no ``.owner``) after 24 h."""
    try:
        dfd = os.open(tmpdir, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError:
        return
    try:
        for name in os.listdir(dfd):
            if not name.startswith(_FALLBACK_PREFIX):
                continue
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                    continue
                with _closing(os.open(name, _DIR, dir_fd=dfd)) as sub:
                    alive = _builder_alive(sub, _FALLBACK_OWNER)
                    legacy = alive is None and not _exists_at(sub, _FALLBACK_OWNER)
                if alive is False or (legacy and time.time() - st.st_mtime > _STALE_TMP_S):
                    _remove_at(dfd, name)
            except OSError:
                continue
    finally:
        os.close(dfd)


def _exists_at(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def _remove_fallback(path: str, pid: int, owner_fd: int | None) -> None:
    if os.getpid() != pid:  # a forked child exiting: the directory is its parent's
        return
    try:
        with _closing(os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)) as d:
            _remove_at(d, os.path.basename(path))
    except OSError:
        pass
    if owner_fd is not None:
        with suppress(OSError):
            os.close(owner_fd)


class KernelCache:
    def __init__(self, root: Path | str | None = None):
        self._configured_root = (
            None if root is None else Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
        )
        self._root: Path | None = None
        self._root_problem: str | None = None
        self._uids: frozenset[int] | None = None
        self._fallback: Path | None = None
        self._fallback_cleanup: Callable[[], None] | None = None
        self._distrusted: dict[Path, str] = {}  # roots that failed the trust checks
        self._unwritable: str | None = None  # why builds no longer go to the root
        self._rejected: set[tuple] = set()  # entries that did not load in this process
        self._warned_trust = False
        self._lock = threading.RLock()

    @property
    def root(self) -> Path:
        """The cache root: absolute, its symbolic links resolved, fixed at first use."""
        if self._root is None:
            with self._lock:
                if self._root is None:
                    path = self._configured_root or default_root()
                    self._root_problem = _symlink_problem(path, self.uids)
                    self._root = Path(os.path.realpath(path))
        return self._root

    @property
    def uids(self) -> frozenset[int]:
        if self._uids is None:
            self._uids = trusted_uids()
        return self._uids

    def entry_dir(self, key: str, root: Path | None = None) -> Path:
        return (root or self.root) / "kernels" / key

    def check_root(self) -> str | None:
        """Why the cache root is not trusted, or None (also when it does not exist yet)."""
        try:
            os.close(self._open_root(self.root, create=False))
        except _Untrusted as exc:
            return str(exc)
        except OSError:
            pass
        return None

    # ---- lookups --------------------------------------------------------------------------------
    def lookup(self, key: CacheKey, expect: EntryMeta | dict | None = None) -> CacheEntry | None:
        """The verified, trusted entry of ``key`` (whose meta.json matches ``expect``'s module
        and platform), or None."""
        expect = _expected(expect)
        for root in self._roots():
            found = self._find(root, key.name, expect)
            if found.status == "ok":
                return found.entry
        return None

    def find_compatible(
        self,
        source_key: str,
        platform: str,
        flags: list[str],
        module: Callable[[CacheKey], str] | None = None,
    ) -> CacheEntry | None:
        """A verified entry of this source built for this platform with exactly ``flags``,
        whatever compiler built it (how a machine without a compiler uses a precompiled
        cache).  Only names ``<source_key>-<hex toolchain key>``; ``module(key)`` is the module
        such an entry must define."""
        pattern = re.compile(re.escape(source_key) + r"-[0-9a-f]{8,64}\Z")
        for root in self._roots():
            try:
                with ExitStack() as stack:
                    rfd = stack.enter_context(_closing(self._open_root(root, create=False)))
                    kfd = stack.enter_context(_closing(self._subdir(rfd, root, "kernels", False)))
                    for name in sorted(os.listdir(kfd)):
                        if not pattern.match(name):
                            continue
                        key = CacheKey(source_key, name[len(source_key) + 1 :])
                        expect = {"platform": platform}
                        if module is not None:
                            expect["module"] = module(key)
                        found = self._inspect(kfd, root, name, expect)
                        if found.status == "untrusted":
                            self._warn_untrusted(found.reason)
                        elif found.entry is not None and found.entry.meta.get("flags") == list(
                            flags
                        ):
                            return found.entry
            except _Untrusted as exc:
                self._distrust(root, str(exc))
            except OSError:
                continue
        return None

    def get_or_build(
        self, key: CacheKey, build: Callable[[Path], Path], meta: EntryMeta
    ) -> CacheEntry:
        """Return the verified entry for ``key``, building it with ``build(workdir)`` on a miss.

        ``build`` writes into the private ``workdir`` and returns the shared object's path there.
        It may be called twice: when the cache root runs out of space (or permissions) during a
        build, the build is repeated in the private fallback cache.
        """
        expect = _expected(meta)
        entry = self.lookup(key, expect)
        if entry is not None:
            return entry
        root = self.root
        if root not in self._distrusted and self._unwritable is None:
            try:
                return self._build_in(root, key.name, build, meta, expect)
            except _EntryUntrusted as exc:
                self._warn_untrusted(str(exc))  # that key only: built in the fallback
            except _Untrusted as exc:
                self._distrust(root, str(exc))
            except Exception as exc:
                from_build = getattr(exc, "_sigcg_build_step", False)
                if not (_out_of_resources(exc) if from_build else isinstance(exc, OSError)):
                    raise
                self._fall_back(root, exc)
        fallback = self._fallback_root()
        try:
            return self._build_in(fallback, key.name, build, meta, expect)
        except _Untrusted as exc:
            raise RuntimeError(
                f"sigcg: the private fallback cache {fallback} is not safe to use "
                f"({exc}); set SIGCG_CACHE_DIR to a directory of your own"
            ) from None
        except OSError as exc:
            if getattr(exc, "_sigcg_build_step", False) and not _out_of_resources(exc):
                raise
            raise RuntimeError(
                f"sigcg: cannot build kernels: neither the kernel cache {root} nor "
                f"the private fallback {fallback} can be written "
                f"({_describe(exc)}); free some space or set SIGCG_CACHE_DIR to a "
                f"writable directory"
            ) from exc

    def reject(self, entry: CacheEntry, reason: str) -> None:
        """``entry`` passed the checks but did not load: ignore it in this process and rebuild
        it (in place if it is in a cache this process writes to)."""
        self._rejected.add(_identity(entry))
        warnings.warn(
            f"sigcg: the cached kernel {entry.path} does not load ({reason}); rebuilding it",
            RuntimeWarning,
            stacklevel=2,
        )

    # ---- maintenance (python -m sigcg cache ...) ----------------------------------------------
    def scan(self) -> list[tuple[Path, CacheEntry | None, str]]:
        """Every entry under the root: (path, the verified entry or None, problem), problem ""
        for a good entry, "bad: why" or "untrusted: why".  Raises UntrustedCacheError when the
        root itself is not trusted."""
        root = self.root
        rows = []
        try:
            with ExitStack() as stack:
                rfd = stack.enter_context(_closing(self._open_root(root, create=False)))
                kfd = stack.enter_context(_closing(self._subdir(rfd, root, "kernels", False)))
                for name in sorted(os.listdir(kfd)):
                    try:
                        st = os.stat(name, dir_fd=kfd, follow_symlinks=False)
                    except OSError:
                        continue
                    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                        continue
                    found = self._inspect(kfd, root, name, None)
                    rows.append(
                        (
                            root / "kernels" / name,
                            found.entry,
                            "" if found.status == "ok" else f"{found.status}: {found.reason}",
                        )
                    )
        except _Untrusted as exc:
            raise UntrustedCacheError(str(exc)) from None
        except FileNotFoundError:
            return []
        return rows

    def entries(self) -> list[tuple[Path, CacheEntry | None]]:
        """Every entry directory under the root, with its verified entry or None if bad or
        untrusted (none at all when the root is not trusted)."""
        try:
            return [(path, entry) for path, entry, _ in self.scan()]
        except UntrustedCacheError:
            return []

    def remove(self, entry_dir: Path) -> None:
        """Take an entry out of service atomically (rename into tmp/), then delete it, never
        through a symbolic link."""
        entry_dir = Path(entry_dir)
        root = entry_dir.parent.parent
        if entry_dir.parent.name != "kernels" or root not in (self.root, self._fallback):
            raise ValueError(f"{entry_dir} is not an entry of the cache {self.root}")
        try:
            with ExitStack() as stack:
                rfd = stack.enter_context(_closing(self._open_root(root, create=False)))
                kfd = stack.enter_context(_closing(self._subdir(rfd, root, "kernels", False)))
                tfd = stack.enter_context(_closing(self._subdir(rfd, root, "tmp", True)))
                _retire(kfd, tfd, entry_dir.name)
        except _Untrusted as exc:
            raise UntrustedCacheError(str(exc)) from None

    def clean(self) -> None:
        """Remove what dead builders left in tmp/ (also done before every build)."""
        try:
            with ExitStack() as stack:
                rfd = stack.enter_context(_closing(self._open_root(self.root, create=False)))
                tfd = stack.enter_context(_closing(self._subdir(rfd, self.root, "tmp", False)))
                _clean_tmp(tfd)
        except (_Untrusted, OSError):
            pass

    def discard_fallback(self) -> None:
        """Remove this process's private fallback cache now (it is removed at exit anyway)."""
        with self._lock:
            if self._fallback_cleanup is not None:
                atexit.unregister(self._fallback_cleanup)  # this instance's cleanup only
                self._fallback_cleanup()
                self._fallback_cleanup = None
                self._fallback = None

    # ---- internals -----------------------------------------------------------------------------
    def _roots(self) -> list[Path]:
        roots = [] if self.root in self._distrusted else [self.root]
        return roots + ([self._fallback] if self._fallback is not None else [])

    def _open_root(self, root: Path, create: bool) -> int:
        """A descriptor of ``root`` once every directory from / down to it passed the trust
        checks; with ``create``, missing directories are made (0700).  Raises _Untrusted, or
        OSError (FileNotFoundError: it does not exist and ``create`` is false)."""
        if root == self.root and self._root_problem:
            raise _Untrusted(self._root_problem)
        parts = root.parts[1:]
        fd = os.open("/", _DIR if not parts else _WALK)
        here = Path("/")
        try:
            for i, part in enumerate(parts):
                _check_dir(os.fstat(fd), here, self.uids, sticky_ok=True)
                flags = _DIR if i == len(parts) - 1 else _WALK
                here = here / part
                try:
                    try:
                        nfd = os.open(part, flags, dir_fd=fd)
                    except FileNotFoundError:
                        if not create:
                            raise
                        with suppress(FileExistsError):
                            os.mkdir(part, 0o700, dir_fd=fd)
                        nfd = os.open(part, flags, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP) and stat.S_ISLNK(
                        os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
                    ):
                        raise _Untrusted(f"{here} is a symbolic link") from None
                    raise  # e.g. a file where a directory should be: not writable
                os.close(fd)
                fd = nfd
            _check_dir(os.fstat(fd), here, self.uids, sticky_ok=False)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _subdir(self, root_fd: int, root: Path, name: str, create: bool) -> int:
        try:
            try:
                fd = os.open(name, _DIR, dir_fd=root_fd)
            except FileNotFoundError:
                if not create:
                    raise
                with suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=root_fd)
                fd = os.open(name, _DIR, dir_fd=root_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                st = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise _Untrusted(f"{root / name} is a symbolic link") from None
            raise  # e.g. a file where the directory should be: not writable
        try:
            _check_dir(os.fstat(fd), root / name, self.uids, sticky_ok=False)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _find(self, root: Path, name: str, expect: dict | None) -> _Found:
        try:
            with ExitStack() as stack:
                rfd = stack.enter_context(_closing(self._open_root(root, create=False)))
                kfd = stack.enter_context(_closing(self._subdir(rfd, root, "kernels", False)))
                found = self._inspect(kfd, root, name, expect)
        except _Untrusted as exc:
            self._distrust(root, str(exc))
            return _Found("untrusted", reason=str(exc))
        except OSError:
            return _Found("missing")
        if found.status == "untrusted":
            self._warn_untrusted(found.reason)
        return found

    def _inspect(self, kernels_fd: int, root: Path, name: str, expect: dict | None) -> _Found:
        """The entry ``name`` in the (checked) ``kernels/`` directory: ok, missing, bad or
        untrusted, with the reason."""
        path = root / "kernels" / name
        uids = self.uids
        try:
            fd = os.open(name, _DIR, dir_fd=kernels_fd)
        except FileNotFoundError:
            return _Found("missing")
        except OSError as exc:
            try:
                st = os.stat(name, dir_fd=kernels_fd, follow_symlinks=False)
            except OSError:
                return _Found("missing")
            if stat.S_ISLNK(st.st_mode):
                return _Found("untrusted", reason=f"{path} is a symbolic link")
            if st.st_uid not in uids:
                return _Found("untrusted", reason=f"{path} is owned by {_owner(st.st_uid)}")
            return _Found("bad", reason=f"{path} cannot be opened ({exc.strerror})")
        try:
            _check_dir(os.fstat(fd), path, uids, sticky_ok=False)
            meta = json.loads(_read_checked(fd, META, path, uids))
            problem = _meta_problem(meta, name, expect)
            if problem is None:
                data = _read_checked(fd, meta["library"], path, uids)
                if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                    problem = "its library does not match the checksum in meta.json"
                else:
                    problem = _declaration_problem(meta, data)
        except _Untrusted as exc:
            return _Found("untrusted", reason=str(exc))
        except FileNotFoundError as exc:
            return _Found("bad", reason=f"incomplete ({exc.filename or 'a file'} is missing)")
        except (OSError, ValueError) as exc:
            return _Found("bad", reason=f"unreadable ({exc})")
        finally:
            os.close(fd)
        if problem is not None:
            return _Found("bad", reason=problem)
        entry = CacheEntry(path, meta)
        if _identity(entry) in self._rejected:
            return _Found("bad", reason="it did not load in this process")
        return _Found("ok", entry)

    def _build_in(self, root: Path, name: str, build, meta: EntryMeta, expect) -> CacheEntry:
        with ExitStack() as stack:
            rfd = stack.enter_context(_closing(self._open_root(root, create=True)))
            fds = {
                sub: stack.enter_context(_closing(self._subdir(rfd, root, sub, True)))
                for sub in SUBDIRS
            }
            with self._key_lock(fds["locks"], name):
                found = self._inspect(fds["kernels"], root, name, expect)
                if found.entry is not None:  # another process built it while we waited
                    return found.entry
                if found.status == "untrusted":
                    raise _EntryUntrusted(found.reason)
                return self._build_and_publish(root, fds, name, build, meta.as_dict(), expect)

    @contextmanager
    def _key_lock(self, locks_fd: int, key: str):
        """Hold the build lock of ``key`` (see the module docstring) for the block, waiting at
        most ``SIGCG_LOCK_TIMEOUT`` seconds; past that, or where nothing can be locked, the
        block runs unlocked (the atomic publish settles any race)."""
        timeout = lock_timeout()
        deadline = time.monotonic() + timeout
        local = _process_lock(key)
        have_local = local.acquire(timeout=timeout)
        fd = None
        method: str | bool | None = False
        try:
            fd = _open_lock(locks_fd, f"{key}.lock")
            if fd is not None and have_local:
                delay = 0.005
                while True:
                    method = _try_lock(fd)
                    if method is None:
                        self._warn_no_locking()
                        break
                    if method or time.monotonic() >= deadline:
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
            if not have_local or (fd is not None and method is False):
                warnings.warn(
                    f"sigcg: waited {timeout:.0f} s for the build lock of {key}; building "
                    f"without it",
                    RuntimeWarning,
                    stacklevel=5,
                )
            yield
        finally:
            if fd is not None:
                if isinstance(method, str):
                    _unlock(fd, method)
                os.close(fd)
            if have_local:
                local.release()

    def _warn_no_locking(self) -> None:
        _warn_once(
            ("no-locking", str(self.root)),
            f"sigcg: files in the kernel cache {self.root} cannot be locked (neither flock nor "
            f"lockf works on this filesystem); processes that need the same new kernel at once "
            f"may each compile it. Entries stay consistent (atomic publish, checksums); "
            f"precompile (python -m sigcg precompile) to avoid the duplicate work.",
        )

    def _build_and_publish(
        self, root: Path, fds: dict, key: str, build: Callable[[Path], Path], meta: dict, expect
    ) -> CacheEntry:
        tmp_fd, kernels_fd = fds["tmp"], fds["kernels"]
        _clean_tmp(tmp_fd)
        work, lock_fd = _make_workdir(tmp_fd, key)
        workdir = root / "tmp" / work
        try:
            try:
                library = Path(build(workdir))
            except BaseException as exc:
                # get_or_build: a build's own failure falls back only if out of resources
                exc._sigcg_build_step = True  # type: ignore[attr-defined]
                raise
            if library.parent != workdir:
                raise RuntimeError(f"sigcg: the build returned {library}, not a file in {workdir}")
            with _closing(os.open(work, _DIR, dir_fd=tmp_fd)) as wfd:
                _seal(wfd, workdir)
                data = _read_checked(wfd, library.name, workdir, self.uids)
                full_meta = dict(
                    meta,
                    key=key,
                    library=library.name,
                    sha256=hashlib.sha256(data).hexdigest(),
                    created=time.time(),
                )
                _write_new(wfd, META, json.dumps(full_meta, indent=1, sort_keys=True).encode())
                os.fchmod(wfd, 0o755)  # readable (an exported copy is shared); the root is 0700
            # Unlocked (no locking on this filesystem, or a lock wait that timed out): another
            # builder may have published meanwhile; its verified entry wins, ours is dropped.
            found = self._inspect(kernels_fd, root, key, expect)
            if found.entry is not None:
                return found.entry
            _retire(kernels_fd, tmp_fd, key)  # a bad or incomplete entry goes out of the way
            try:
                os.replace(work, key, src_dir_fd=tmp_fd, dst_dir_fd=kernels_fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                # lost a race with a builder that timed out on the lock: use the winner's entry
            found = self._inspect(kernels_fd, root, key, expect)
            if found.entry is None:
                raise RuntimeError(
                    f"sigcg: cache entry {root / 'kernels' / key} failed "
                    f"verification right after publishing ({found.reason}); is the "
                    f"cache directory shared with a process that deletes entries?"
                )
            return found.entry
        finally:
            _remove_at(tmp_fd, work)
            _remove_at(tmp_fd, work + ".lock")
            os.close(lock_fd)

    def _fallback_root(self) -> Path:
        """This process's private fallback cache (made on first need, removed at exit)."""
        with self._lock:
            if self._fallback is None:
                tmpdir = tempfile.gettempdir()
                _sweep_dead_fallbacks(tmpdir)
                path = owner = None
                try:
                    path = tempfile.mkdtemp(prefix=_FALLBACK_PREFIX)  # 0700, this user's
                    with _closing(os.open(path, _DIR)) as fd:
                        for sub in SUBDIRS:
                            os.mkdir(sub, 0o700, dir_fd=fd)
                        owner = os.open(
                            _FALLBACK_OWNER,
                            os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW,
                            0o600,
                            dir_fd=fd,
                        )
                    with suppress(OSError):
                        _flock_nb(owner)  # held while we live
                except OSError as exc:
                    if path is not None:
                        _remove_fallback(path, os.getpid(), owner)
                    raise RuntimeError(
                        f"sigcg: cannot make a private kernel cache in {tmpdir} "
                        f"({_describe(exc)}); set SIGCG_CACHE_DIR (or TMPDIR) to a writable "
                        f"directory"
                    ) from exc
                self._fallback_cleanup = functools.partial(
                    _remove_fallback, path, os.getpid(), owner
                )
                atexit.register(self._fallback_cleanup)
                self._fallback = Path(os.path.realpath(path))
            return self._fallback

    def _fall_back(self, root: Path, exc: BaseException) -> None:
        with self._lock:
            if self._unwritable is not None:
                return
            self._unwritable = _describe(exc)
        fallback = self._fallback_root()
        warnings.warn(
            f"sigcg: the kernel cache {root} is not writable ({self._unwritable}); kernels built "
            f"by this process go to {fallback} and are removed at exit. Set SIGCG_CACHE_DIR to a "
            f"writable directory to keep them.",
            RuntimeWarning,
            stacklevel=4,
        )

    def _distrust(self, root: Path, reason: str) -> None:
        with self._lock:
            if root in self._distrusted:
                return
            self._distrusted[root] = reason
        self._warn_untrusted(reason)

    def _warn_untrusted(self, reason: str) -> None:
        with self._lock:
            if self._warned_trust:
                return
            self._warned_trust = True
        warnings.warn(
            f"sigcg: not loading kernels from the cache: {reason}. The cache holds executable "
            f"code, so sigcg uses only directories and files owned by you, root or a uid listed in "
            f"{TRUSTED_UIDS_ENV}, that no one else can write, and no symbolic links below the "
            f"cache root. Kernels this process needs are built in a private temporary directory "
            f"instead. Fix the ownership or permissions, set SIGCG_CACHE_DIR to a directory of "
            f"your own, or list the owner in {TRUSTED_UIDS_ENV} if you trust that user.",
            RuntimeWarning,
            stacklevel=4,
        )


def _expected(meta: EntryMeta | dict | None) -> dict | None:
    if meta is None or isinstance(meta, dict):
        return meta
    return {"module": meta.module, "platform": meta.platform}


def _identity(entry: CacheEntry) -> tuple:
    return (str(entry.path), entry.meta.get("sha256"), entry.meta.get("created"))


def _retire(kernels_fd: int, tmp_fd: int, name: str) -> None:
    """Move ``kernels/name`` (whatever it is: an entry, a file, a link) into tmp/ in one rename,
    then delete it there."""
    try:
        os.stat(name, dir_fd=kernels_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    trash = f"trash-{secrets.token_hex(8)}"
    os.replace(name, trash, src_dir_fd=kernels_fd, dst_dir_fd=tmp_fd)
    _remove_at(tmp_fd, trash)
