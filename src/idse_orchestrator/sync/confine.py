"""The symlink policy of sync, in one place: every file sync reads or writes goes through a ``Root``.

A path is used only when each symbolic link on the way to it (a folder above it, or the file
itself) resolves to a place inside the root it belongs to: the workspace's repository root (the
folder holding `.idse/`) for local files, the sync directory for a filesystem remote. Otherwise the
path is refused with ``Escape`` and is neither read nor written. The folder chain is resolved and
checked first; the file itself is then opened with ``O_NOFOLLOW`` (and written by renaming a
temporary file over it, which replaces a link rather than following it), so a link swapped in
between the check and the use is refused too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from idse_orchestrator.errors import EXIT_FINDINGS, BadFile, IdseError
from idse_orchestrator.fsutil import MAX_DOCUMENT_BYTES, atomic_write_text, file_lock, human_size

_OPEN_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_OPEN_READ |= getattr(os, "O_CLOEXEC", 0)


class Escape(IdseError):
    """A path that leads, through a symbolic link, outside the root it belongs to."""

    exit_code = EXIT_FINDINGS


class Root:
    """A directory whose files sync may use, and the checks that keep every access inside it.

    ``what`` names the root in messages ("the workspace"); ``prefix`` goes before a path relative to
    it ("sync directory: "), so messages never show an absolute path the user did not type.
    """

    def __init__(self, root: Path, what: str, prefix: str = "") -> None:
        self.lexical = Path(os.path.abspath(root))
        self.real_root = Path(os.path.realpath(root))
        self._lexical_str = str(self.lexical)
        self._lexical_prefix = os.path.join(self._lexical_str, "")
        self._real_str = str(self.real_root)
        self._real_prefix = os.path.join(self._real_str, "")
        self.what = what
        self.prefix = prefix
        # While a list (``defer_sync``): files written but not yet fsynced, made durable together.
        self._unsynced: list[Path] | None = None

    # -- checks ---------------------------------------------------------------------------------

    def contains(self, real: Path) -> bool:
        return self._inside(str(real))

    def _inside(self, real: str) -> bool:
        root = self._real_str
        return real == root or real.startswith(self._real_prefix)

    def show(self, path: Path) -> str:
        try:
            rel = Path(os.path.abspath(path)).relative_to(self.lexical).as_posix()
        except ValueError:
            rel = str(path)
        return f"{self.prefix}{rel}"

    def _escape(self, shown: Path) -> Escape:
        return Escape(f"{self.show(shown)} is a symbolic link to outside {self.what}; not followed")

    def real(self, path: Path) -> Path:
        """``path`` with every symlink on it resolved, or ``Escape`` if one leads outside the root.

        The part that does not exist yet is returned as is, under the resolved part that does.
        Plain strings, not pathlib: this runs for every access to every document of a sync.
        """
        absolute = os.path.abspath(path)
        if absolute == self._lexical_str:
            parts: list[str] = []
        elif absolute.startswith(self._lexical_prefix):
            parts = absolute[len(self._lexical_prefix) :].split(os.sep)
        else:
            raise Escape(f"{path} is outside {self.what}; not used")
        current = self._real_str
        for i, part in enumerate(parts):
            candidate = os.path.join(current, part)
            try:
                st = os.lstat(candidate)
            except (FileNotFoundError, NotADirectoryError):
                return Path(candidate, *parts[i + 1 :])
            except OSError as exc:
                raise BadFile(self.show(Path(absolute)), f"cannot be used ({exc.strerror or exc})") from None
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(candidate)
                if not self._inside(target):
                    raise self._escape(self.lexical.joinpath(*parts[: i + 1]))
                candidate = target
            current = candidate
        return Path(current)

    def allowed(self, path: Path) -> bool:
        try:
            self.real(path)
        except Escape:
            return False
        return True

    def lstat(self, path: Path) -> os.stat_result | None:
        """The status of the resolved ``path`` (``None`` when it does not exist)."""
        try:
            return os.lstat(self.real(path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def is_file(self, path: Path) -> bool:
        st = self.lstat(path)
        return st is not None and stat.S_ISREG(st.st_mode)

    def is_dir(self, path: Path) -> bool:
        st = self.lstat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def exists(self, path: Path) -> bool:
        return self.lstat(path) is not None

    def listdir(self, path: Path) -> list[str]:
        real = self.real(path)
        try:
            return sorted(os.listdir(real))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise BadFile(self.show(path), f"cannot be listed ({exc.strerror or exc})") from None

    # -- reading --------------------------------------------------------------------------------

    def read_text(self, path: Path, *, limit: int = MAX_DOCUMENT_BYTES) -> str | None:
        """The UTF-8 text of ``path``, ``None`` if it does not exist, ``BadFile`` if unreadable."""
        real = self.real(path)
        try:
            fd = os.open(real, _OPEN_READ)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                # O_NOFOLLOW: the resolved path became a symlink after the check (or is a loop).
                raise Escape(f"{self.show(path)} is a symbolic link that cannot be followed safely") from None
            if isinstance(exc, PermissionError):
                raise BadFile(self.show(path), "cannot be read (permission denied)") from None
            raise BadFile(self.show(path), f"cannot be read ({exc.strerror or exc})") from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise BadFile(self.show(path), "is a directory, expected a file")
            if not stat.S_ISREG(st.st_mode):
                # A FIFO or device would block or stream forever.
                raise BadFile(self.show(path), "is not a regular file")
            try:
                # Sized by the file, not the limit: read(limit) allocates the whole limit every time.
                want = min(st.st_size, limit) + 1
                data = fh.read(want)
                if len(data) == want and want <= limit:  # grew since fstat: read on, to the limit
                    data += fh.read(limit + 1 - want)
            except OSError as exc:
                raise BadFile(self.show(path), f"cannot be read ({exc.strerror or exc})") from None
        if len(data) > limit:
            raise BadFile(self.show(path), f"is larger than {human_size(limit)}")
        if b"\x00" in data:
            raise BadFile(self.show(path), "is a binary file, expected UTF-8 text")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise BadFile(self.show(path), f"is not valid UTF-8 (line {line})") from None

    # -- writing --------------------------------------------------------------------------------

    def _ensure_dir(self, path: Path, real: Path) -> None:
        """Create the resolved folder ``real`` (for ``path``); refuse a link that appears meanwhile."""
        try:
            os.makedirs(real, exist_ok=True)
        except OSError as exc:
            raise BadFile(self.show(path), f"cannot be created ({exc.strerror or exc})") from None
        if Path(os.path.realpath(real)) != real or not self.contains(real):
            raise self._escape(path)

    def mkdir(self, path: Path) -> Path:
        real = self.real(path)
        self._ensure_dir(path, real)
        return real

    def write_text(self, path: Path, text: str) -> None:
        """Atomically replace ``path`` (a symlink inside the root: its target) with ``text``."""
        real = self.real(path)
        self._ensure_dir(path.parent, real.parent)
        if os.path.islink(real):
            raise self._escape(path)  # became a link after the check
        try:
            # A temporary file renamed over ``real``: rename replaces a directory entry, it never
            # writes through a link that might appear at the destination meanwhile.
            atomic_write_text(real, text, durable=self._unsynced is None)
        except OSError as exc:
            raise BadFile(self.show(path), f"cannot be written ({exc.strerror or exc})") from None
        if self._unsynced is not None:
            self._unsynced.append(real)

    @contextlib.contextmanager
    def defer_sync(self) -> Iterator[None]:
        """Within: ``write_text`` leaves the fsync to ``sync_written``, so that a batch of files is
        made durable at once (the first fsync commits the filesystem's journal for all of them;
        one per file made a pull of thousands of documents wait mostly on the disk)."""
        self._unsynced = []
        try:
            yield
        finally:
            try:
                self.sync_written()
            finally:
                self._unsynced = None

    def sync_written(self) -> None:
        """fsync the files written since the last call (see ``defer_sync``): before their
        bookkeeping is saved, so a record never describes content the disk may not hold."""
        pending, self._unsynced = self._unsynced, ([] if self._unsynced is not None else None)
        for real in pending or ():
            try:
                fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                continue  # replaced or removed since: whatever is there now was synced by its writer
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def unlink(self, path: Path) -> None:
        """Remove ``path`` if it exists (a link is removed itself, its target is left alone)."""
        parent = self.real(path.parent)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(parent / path.name)

    @contextlib.contextmanager
    def lock(self, path: Path, *, what: str) -> Iterator[None]:
        real = self.real(path)
        self._ensure_dir(path.parent, real.parent)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(file_lock(real, what=what))
            except OSError as exc:
                raise BadFile(self.show(path), f"cannot be locked ({exc.strerror or exc})") from None
            yield


def local_root(workspace_root: Path) -> Root:
    """The root of local files: the repository (the folder holding `.idse/`)."""
    return Root(workspace_root, "the workspace")
