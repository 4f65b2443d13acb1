"""The on-disk kernel cache, shared safely by many processes.

Layout under the cache root (``SIGCG_CACHE_DIR``, else ``$XDG_CACHE_HOME/sigcg``, else
``~/.cache/sigcg``)::

    kernels/<source>-<tc>/    one published entry (source key, toolchain key): the shared object, its C source, meta.json
    locks/<key>.lock          flock target; the kernel drops the lock when its holder dies
    tmp/<random>/             private build directories

Rules that keep every reader safe:
  * an entry is built in a private ``tmp/`` directory and published with one ``os.replace`` of the
    whole directory, ``meta.json`` (with the shared object's SHA-256) written last inside it;
  * a reader trusts an entry only if ``meta.json`` parses and the checksum matches, otherwise it is
    a miss and gets rebuilt, so a truncated or corrupted file is never loaded;
  * builders of one key serialise on ``flock`` with a timeout; a crashed holder's lock vanishes with
    it, and a holder that hangs past the timeout is ignored (the build goes ahead and the atomic
    rename settles any race), so no lock can hang anyone;
  * nothing is created until the first build; a cache root that cannot be written falls back, with
    one warning, to a private temporary directory (entries already in the read-only root still load).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

META = "meta.json"


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
LOCK_TIMEOUT_S = float(os.environ.get("SIGCG_LOCK_TIMEOUT", "300"))
_STALE_TMP_S = 24 * 3600


def default_root() -> Path:
    env = os.environ.get("SIGCG_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sigcg"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CacheEntry:
    """A published, verified entry."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.meta = meta

    @property
    def library(self) -> Path:
        return self.path / self.meta["library"]


def read_entry(entry_dir: Path) -> CacheEntry | None:
    """The entry at ``entry_dir`` if it is complete and its checksum matches, else None."""
    try:
        meta = json.loads((entry_dir / META).read_text())
        library = entry_dir / meta["library"]
        if sha256_file(library) != meta["sha256"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CacheEntry(entry_dir, meta)


class KernelCache:
    def __init__(self, root: Path | None = None):
        self._configured_root = Path(root) if root is not None else None
        self._fallback: Path | None = None
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self._configured_root if self._configured_root is not None else default_root()

    def entry_dir(self, key: str, root: Path | None = None) -> Path:
        return (root or self.root) / "kernels" / key

    def lookup(self, key: CacheKey) -> CacheEntry | None:
        for root in self._roots():
            entry = read_entry(self.entry_dir(key.name, root))
            if entry is not None:
                return entry
        return None

    def find_compatible(self, source_key: str, platform: str,
                        flags: list[str]) -> CacheEntry | None:
        """A verified entry of this source built for this platform with exactly ``flags``,
        whatever compiler built it (how a machine without a compiler uses a precompiled
        cache)."""
        for root in self._roots():
            for entry_dir in sorted((root / "kernels").glob(f"{source_key}-*")):
                entry = read_entry(entry_dir)
                if (entry is not None and entry.meta.get("platform") == platform
                        and entry.meta.get("flags") == list(flags)):
                    return entry
        return None

    def get_or_build(self, key: CacheKey, build: Callable[[Path], Path],
                     meta: EntryMeta) -> CacheEntry:
        """Return the verified entry for ``key``, building it with ``build(workdir)`` on a miss.

        ``build`` writes into the private ``workdir`` and returns the shared object's path there.
        """
        entry = self.lookup(key)
        if entry is not None:
            return entry
        root = self._writable_root()
        with self._key_lock(root, key.name):
            entry = read_entry(self.entry_dir(key.name, root))
            if entry is not None:  # another process built it while we waited
                return entry
            return self._build_and_publish(root, key.name, build, meta.as_dict())

    # ---- maintenance (python -m sigcg cache ...) ----------------------------------------------
    def entries(self) -> list[tuple[Path, CacheEntry | None]]:
        """Every entry directory under the root, with its verified entry or None if bad."""
        kernels = self.root / "kernels"
        if not kernels.is_dir():
            return []
        return [(d, read_entry(d)) for d in sorted(kernels.iterdir()) if d.is_dir()]

    def remove(self, entry_dir: Path) -> None:
        """Take an entry out of service atomically (rename), then delete it."""
        trash = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix="trash-"))
        os.replace(entry_dir, trash / "old")
        shutil.rmtree(trash, ignore_errors=True)

    # ---- internals -----------------------------------------------------------------------
    def _roots(self) -> list[Path]:
        return [self.root] + ([self._fallback] if self._fallback is not None else [])

    def _writable_root(self) -> Path:
        with self._lock:
            if self._fallback is not None:
                return self._fallback
            root = self.root
            try:
                for sub in ("kernels", "locks", "tmp"):
                    (root / sub).mkdir(parents=True, exist_ok=True)
                fd, probe = tempfile.mkstemp(dir=root / "tmp", prefix="probe-")
                os.close(fd)
                os.unlink(probe)
                return root
            except OSError as exc:
                self._fallback = Path(tempfile.mkdtemp(prefix="sigcg-cache-"))
                for sub in ("kernels", "locks", "tmp"):
                    (self._fallback / sub).mkdir()
                warnings.warn(
                    f"sigcg: the kernel cache {root} is not writable ({exc.strerror or exc}); "
                    f"kernels built by this process go to {self._fallback} and are lost at exit. "
                    f"Set SIGCG_CACHE_DIR to a writable directory to keep them.",
                    RuntimeWarning, stacklevel=4)
                return self._fallback

    @contextmanager
    def _key_lock(self, root: Path, key: str):
        fd = os.open(root / "locks" / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            locked = False
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        break  # filesystem without flock: build unlocked, rename settles races
                if time.monotonic() >= deadline:
                    warnings.warn(f"sigcg: waited {LOCK_TIMEOUT_S:.0f} s for the build lock of "
                                  f"{key}; building without it", RuntimeWarning, stacklevel=4)
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            yield
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _build_and_publish(self, root: Path, key: str, build: Callable[[Path], Path],
                           meta: dict) -> CacheEntry:
        _remove_stale_tmp(root / "tmp")
        workdir = Path(tempfile.mkdtemp(dir=root / "tmp", prefix=f"{key[:16]}-"))
        try:
            library = build(workdir)
            full_meta = dict(meta, key=key, library=library.name, sha256=sha256_file(library),
                             created=time.time())
            _write_synced(workdir / META, json.dumps(full_meta, indent=1, sort_keys=True))
            os.chmod(workdir, 0o755)  # mkdtemp makes it 0700; a shared cache is read by others
            target = self.entry_dir(key, root)
            if target.exists():  # corrupt or incomplete: move it out of the way first
                KernelCache(root).remove(target)
            try:
                os.replace(workdir, target)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                # lost a race with a builder that timed out on the lock: use the winner's entry
                shutil.rmtree(workdir, ignore_errors=True)
            entry = read_entry(target)
            if entry is None:
                raise RuntimeError(f"sigcg: cache entry {target} failed verification right "
                                   f"after publishing; is the cache directory shared with a "
                                   f"process that deletes entries?")
            return entry
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _remove_stale_tmp(tmp: Path) -> None:
    """Build directories left by killed processes: harmless (never loaded), removed when old."""
    now = time.time()
    try:
        for child in tmp.iterdir():
            try:
                if now - child.stat().st_mtime > _STALE_TMP_S:
                    shutil.rmtree(child, ignore_errors=True)
            except OSError:
                pass
    except OSError:
        pass
