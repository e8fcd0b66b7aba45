"""Creating a new file unnamed and linking it once whole (Linux ``O_TMPFILE``).

Used by the atomic writers of ``fsutil`` and ``engine.results`` for files that do not exist yet.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

_NO_UNNAMED: set[str] = set()  # folders whose filesystem cannot create unnamed files
_PROC_FD: list[bool] = []  # whether /proc/self/fd exists (linking an unnamed file goes through it)


def _has_proc_fd() -> bool:
    if not _PROC_FD:
        _PROC_FD.append(os.path.isdir("/proc/self/fd"))
    return _PROC_FD[0]


def create_unnamed(path: Path, data: bytes, durable: bool) -> bool:
    """Create the new file ``path`` holding ``data`` as an unnamed file in its folder, linked under
    its name once complete (Linux ``O_TMPFILE``): readers never see it torn, and a crash leaves no
    trace, not even a temporary name. Creating it beside its folder's files also keeps it near them
    on disk: a build creating thousands of files all in one temporary folder is ten times slower
    on ext4. False when the system cannot (then the caller writes through a temporary file)."""
    flag = getattr(os, "O_TMPFILE", 0)
    folder = str(path.parent)
    if not flag or not _has_proc_fd() or folder in _NO_UNNAMED:
        return False
    try:
        fd = os.open(folder, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            _NO_UNNAMED.add(folder)  # a filesystem without O_TMPFILE (or an old kernel)
            return False
        raise
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
        folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            # A dst_dir_fd makes Python call linkat(..., AT_SYMLINK_FOLLOW): the file, not the link.
            os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=folder_fd)
        except FileExistsError:
            return False  # created meanwhile by someone else: replaced the usual way
        finally:
            os.close(folder_fd)
    finally:
        os.close(fd)
    return True
