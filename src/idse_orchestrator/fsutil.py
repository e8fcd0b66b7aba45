"""Filesystem helpers: atomic writes, bounded reads, JSON models at file boundaries, the lock."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat as stat_
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from idse_orchestrator.errors import BadFile, LockTimeout
from idse_orchestrator.layout import IDSE_DIR

if TYPE_CHECKING:
    from pydantic import BaseModel

    M = TypeVar("M", bound=BaseModel)

# Pipeline documents are a few KB; anything past this is not a document a person wrote.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


_ROOTS: dict[str, str] = {}  # folder -> its repository root (only roots found are remembered)
_REAL_ROOTS: dict[str, str] = {}  # repository root -> its real path


def _root_of_folder(folder: str) -> str | None:
    visited: list[str] = []
    candidate = folder
    while True:
        cached = _ROOTS.get(candidate)
        if cached is None and os.path.isdir(os.path.join(candidate, IDSE_DIR)):
            cached = candidate
        if cached is not None:
            for seen in visited:  # a sibling folder met later stops at the first folder it shares
                _ROOTS[seen] = cached
            _ROOTS[candidate] = cached
            return cached
        visited.append(candidate)
        parent = os.path.dirname(candidate)
        if parent == candidate:
            return None
        candidate = parent


def repository_root(path: Path) -> Path | None:
    """The nearest folder above ``path`` (taken literally, symlinks not resolved) that holds `.idse/`."""
    root = _root_of_folder(os.path.dirname(os.path.abspath(path)))
    return None if root is None else Path(root)


def _real_below(root: str, real_root: str, absolute: str) -> str:
    """``os.path.realpath(absolute)`` for a normalised path below ``root``: the root's own real
    path is known, so only the components below it are looked at, and when none of them is a
    symlink (the common case) that is the answer. Any symlink hands the whole path to realpath.

    During a build each folder is looked at once (``memo.scope``: the build snapshots and compares
    its sources, and thousands of reads share a few folders); the last component always is."""
    from idse_orchestrator import memo

    rest = absolute[len(root) :].lstrip(os.sep)
    if not rest:
        return real_root
    known = memo.scope("real-folders")
    parts = rest.split(os.sep)
    current, start = real_root, 0
    if known is not None:
        # The deepest folder already looked at (none below a symlink is remembered).
        for depth in range(len(parts) - 1, 0, -1):
            if (found := known.get((real_root, tuple(parts[:depth])))) is not None:
                current, start = found, depth
                break
    for depth in range(start, len(parts)):
        current = os.path.join(current, parts[depth])
        if _is_link(current):
            return os.path.realpath(absolute)
        if known is not None and depth < len(parts) - 1:
            known[(real_root, tuple(parts[: depth + 1]))] = current
    return current


def _is_link(path: str) -> bool:
    try:
        return stat_.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False  # a missing part is taken as it is, as realpath does


def confined(path: Path) -> Path:
    """``path`` with its symlinks resolved, provided it stays inside its repository.

    The one symlink policy for every file idse reads or writes in a workspace: a symlink (at the
    last component or any folder above it) is followed only when its target stays inside the
    repository that contains `.idse/`; otherwise the path is refused with ``BadFile`` and never read
    or written. Files outside any repository (idse's own templates) are not confined.
    """
    absolute = os.path.abspath(path)
    root = _root_of_folder(os.path.dirname(absolute))
    if root is None:
        return path
    real_root = _REAL_ROOTS.get(root)
    if real_root is None:
        # Remembered like the root itself (``_ROOTS``): a repository does not move while idse runs.
        real_root = _REAL_ROOTS[root] = os.path.realpath(root)
    real = _real_below(root, real_root, absolute)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise BadFile(path, "is a symlink to a location outside the repository; idse does not follow it")
    return Path(real)


def ensure_cache_dir(path: Path) -> bool:
    """Create the cache folder; something else in its place (a file, a dangling link) is derived
    junk and is moved aside. Returns True when something had to be moved."""
    if path.is_dir():
        return False
    moved = False
    if path.exists() or path.is_symlink():
        os.replace(path, path.with_name(path.name + ".corrupt"))
        moved = True
    path.mkdir(parents=True, exist_ok=True)
    return moved


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a torn one.

    ``durable=False`` skips the fsync: for derived files (the build cache) that are rebuilt anyway.
    A symlink is written through only when it stays inside the repository (see ``confined``).
    """
    path = confined(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from idse_orchestrator.unnamed import create_unnamed

    if not os.path.lexists(path) and create_unnamed(path, data, durable):
        return
    import tempfile  # here: it loads shutil, random and more, which a read-only command never needs

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=_temp_dir(path))
    try:
        # mkstemp creates 0600; keep an existing file's mode, else what a plain open() would give.
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_UMASK
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # The cache is on another filesystem: write beside the file after all.
            os.unlink(tmp)
            tmp = ""
            _write_beside(path, data, mode, durable)
    except BaseException:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


_TEMP_DIRS: dict[str, Path] = {}


def _temp_dir(path: Path) -> Path:
    """Where the temporary file of a write goes: the repository's git-ignored cache folder, so a
    write interrupted by a crash leaves nothing that `git add -A` would stage in a session folder."""
    root = repository_root(path)
    if root is None:
        return path.parent
    known = _TEMP_DIRS.get(str(root))
    if known is not None and known.is_dir():
        return known
    from idse_orchestrator import layout

    tmp = Path(os.path.realpath(root)) / layout.tmp_dir()
    try:
        ensure_cache_dir(tmp.parent)
        tmp.mkdir(exist_ok=True)
    except OSError:
        return path.parent
    _TEMP_DIRS[str(root)] = tmp
    return tmp


def _write_beside(path: Path, data: bytes, mode: int, durable: bool) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file holding exactly ``data``."""
    try:
        st = os.stat(path)
        # Only a regular file of the same size is compared: a FIFO or device would block or stream.
        if not stat_.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        with open(path, "rb") as fh:
            return fh.read(len(data) + 1) == data
    except OSError:
        return False


def write_if_changed(path: Path, text: str, *, durable: bool = True) -> bool:
    """Atomically write ``text`` unless the file already holds exactly it. Returns True if written.
    ``durable=False`` skips the fsync (see ``atomic_write_bytes``)."""
    data = text.encode("utf-8")
    if holds(path, data):
        return False
    atomic_write_bytes(path, data, durable=durable)
    return True


def dump_json(data: Any) -> str:
    """Canonical JSON for files idse writes: stable key order, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_text(path: Path, *, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """Read a UTF-8 text file or raise ``BadFile`` with a one-line reason."""
    import stat as stat_

    try:
        real = confined(path)
        st = os.stat(real)
        if stat_.S_ISDIR(st.st_mode):
            raise BadFile(path, "is a directory, expected a file")
        if not stat_.S_ISREG(st.st_mode):
            # A FIFO or device would block or stream forever.
            raise BadFile(path, "is not a regular file")
        data = _read_up_to(real, limit + 1, st.st_size)
    except FileNotFoundError:
        raise BadFile(path, "does not exist") from None
    except PermissionError:
        raise BadFile(path, "cannot be read (permission denied)") from None
    except IsADirectoryError:
        raise BadFile(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise BadFile(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise BadFile(path, f"is larger than {human_size(limit)}")
    if b"\x00" in data:
        raise BadFile(path, "is a binary file, expected UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadFile(path, f"is not valid UTF-8 (line {line})") from None


def _read_up_to(path: Path, most: int, size: int) -> bytes:
    """At most ``most`` bytes of a regular file of ``size`` bytes (as stat'ed just before), in as
    few system calls as it takes: a build reads thousands of small files, and a buffered file
    object costs three more calls per file than open, read and close. The first read asks for one
    byte more than the stat'ed size (a buffer sized for the limit would be mapped and unmapped for
    every file): a short read is the end of the file, a full one means it grew and reading goes on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks: list[bytes] = []
        total = 0
        want = min(most, size + 1)
        while total < most:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if len(chunk) < want:
                break  # a short read of a regular file: its end
            want = min(most - total, 1 << 16)
        return b"".join(chunks)
    finally:
        os.close(fd)


def human_size(n: int) -> str:
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def loads_json(text: str) -> Any:
    """``json.loads`` that refuses absurd nesting (which would exhaust the stack) as a ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("is nested too deeply") from None


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise BadFile(path, f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:
        raise BadFile(path, str(exc)) from None


def read_derived_json(path: Path, limit: int = 64 * 1024 * 1024) -> Any:
    """A file idse wrote itself (cache, results), or None when absent, damaged, foreign or not a
    regular file: derived data is rebuilt rather than trusted, and never blocks on a FIFO."""
    try:
        return loads_json(read_text(path, limit=limit))
    except (BadFile, ValueError):
        return None


def pydantic_problem(exc: Exception) -> str:
    """A one-line summary of a pydantic ValidationError: location and message of the first errors."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0]
    parts = []
    for err in errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def load_model(path: Path, model: type[M]) -> M:
    """Read ``path`` as JSON and validate it, or raise ``BadFile`` naming the file."""
    from pydantic import ValidationError

    data = read_json(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadFile(path, f"does not match its schema: {pydantic_problem(exc)}") from None


def save_model(path: Path, obj: BaseModel) -> None:
    atomic_write_text(path, dump_json(obj.model_dump(mode="json")))


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = 60.0, what: str = "workspace") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (waiting up to ``timeout`` seconds)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        # Not a lock file anyone could hold: a damaged workspace. Move it aside and carry on.
        os.replace(path, path.with_name(path.name + ".corrupt"))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                # A POSIX record lock belongs to this process alone: build workers forked from it do
                # not inherit it, so when this process dies (even by SIGKILL) the lock is free.
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another idse process holds the {what} lock ({path}); waited {timeout:.0f}s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex. hashlib is imported when first needed: it loads OpenSSL,
    which a no-op build and the read commands never need."""
    import hashlib

    return hashlib.sha256(data).hexdigest()
