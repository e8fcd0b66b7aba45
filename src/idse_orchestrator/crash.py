"""Crash reports: what an unexpected exception leaves behind for a bug report.

``write_report`` writes a short text file (idse and Python versions, platform, the command line, the
traceback) under ``.idse/.cache/crash/`` of the workspace found from the current directory, or under
the temporary directory outside a workspace. Everything in it is scrubbed first: URL and DSN
passwords, sensitive query and DSN parameters, the values of options such as ``--token``, and the
secrets the environment gives sync (``IDSE_SYNC_TOKEN``, the password of ``IDSE_SYNC_URL`` …).

Only light modules are imported here: a crash may come from a broken install.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from idse_orchestrator import layout

EXIT_INTERNAL = 3
CRASH_DIR = Path(layout.crash_dir())
KEEP = 20  # reports kept per directory; the oldest go first
MASK = "***"


def _env_secrets(env: Mapping[str, str]) -> list[str]:
    """Secret values the environment holds (sync token, URL/DSN passwords, PGPASSWORD …)."""
    from idse_orchestrator.sync.redact import secret_parts, sensitive

    out: list[str] = []
    for name, value in env.items():
        if not value or not name.upper().startswith(("IDSE_", "PG", "DATABASE")):
            continue
        if sensitive(name):
            out.append(value)
        elif "://" in value or "=" in value:
            out.extend(secret_parts(value))
    return out


def scrub(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` without URL/DSN secrets and without any secret value of the environment."""
    from idse_orchestrator.sync.redact import scrub as redact_scrub

    return redact_scrub(text, _env_secrets(os.environ if env is None else env))


def command_line(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """``idse …`` as typed, with the value of a secret-looking option (``--token X``) masked."""
    from idse_orchestrator.sync.redact import sensitive

    shown: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            shown.append(MASK)
            mask_next = False
            continue
        if arg.startswith("-") and len(arg) > 1:
            name, eq, _value = arg.lstrip("-").partition("=")
            if sensitive(name):
                if eq:
                    arg = f"{arg.split('=', 1)[0]}={MASK}"
                else:
                    mask_next = True
        shown.append(arg)
    return scrub(shlex.join(["idse", *shown]), env)


def _workspace_root(start: Path) -> Path | None:
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / layout.IDSE_DIR).is_dir():
            return candidate
    return None


def _fingerprint(exc: BaseException) -> str:
    """Stable for the same bug: the exception type and the functions it went through."""
    frames = traceback.extract_tb(exc.__traceback__)
    key = type(exc).__qualname__ + "".join(f"|{Path(f.filename).name}:{f.name}" for f in frames)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def report_text(exc: BaseException, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    import platform

    from idse_orchestrator import __version__

    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    lines = [
        "idse crash report",
        f"idse      {__version__}",
        f"python    {platform.python_version()} ({platform.python_implementation()})",
        f"platform  {platform.platform()}",
        f"command   {command_line(argv, env)}",
        f"error     {type(exc).__name__}: {_first_line(exc)}",
        "",
        tb.rstrip("\n"),
        "",
    ]
    return scrub("\n".join(lines), env)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _write_in(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    _prune(directory)
    return path


def _prune(directory: Path) -> None:
    try:
        reports = sorted(directory.glob("*.txt"))
        for old in reports[:-KEEP]:
            old.unlink()
    except OSError:
        pass


def write_report(
    exc: BaseException,
    argv: Sequence[str],
    *,
    start: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Path | None:
    """Write the crash report and return its path; ``None`` when nowhere could be written."""
    import tempfile
    import time

    try:
        text = report_text(exc, argv, env)
    except Exception:  # the report must never turn one crash into two
        return None
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{_fingerprint(exc)}.txt"
    places: list[Path] = []
    try:
        root = _workspace_root(start or Path.cwd())
    except OSError:
        root = None
    if root is not None:
        places.append(root / CRASH_DIR)
    places.append(Path(tempfile.gettempdir()) / "idse-crash")
    for directory in places:
        try:
            return _write_in(directory, name, text)
        except OSError:
            continue
    return None


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to the current directory when it is below it, else absolute."""
    try:
        return path.relative_to((cwd or Path.cwd()).resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def one_line(exc: BaseException, report: Path | None) -> str:
    """The error line for an internal error: what failed, and where the report is."""
    message = _first_line(exc)
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    where = f"crash report: {shown_path(report)}; " if report is not None else ""
    return scrub(f"internal error: {what} ({where}set IDSE_DEBUG=1 for the traceback)")
