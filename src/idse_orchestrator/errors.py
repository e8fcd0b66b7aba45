"""The one error tree. Every expected failure is an ``IdseError`` carrying its exit code.

The CLI translates these to a single line on stderr in one place (``cli.run``); nothing else
catches them, so core functions stay plain and testable.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class IdseError(Exception):
    """Base of all expected failures."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(IdseError):
    """The user asked for something that cannot be done as asked."""


class WorkspaceNotFound(IdseError):
    def __init__(self, start: Path) -> None:
        super().__init__(
            f"not inside an idse workspace (no .idse/ found from {start} upwards); run 'idse init <project>'"
        )


class InvalidName(IdseError):
    """A session, project or stage name that is not a safe slug."""


class NotFound(IdseError):
    """A project, session, stage or rule that does not exist."""


class AlreadyExists(IdseError):
    """Refused because it would overwrite something the user owns."""


class BadFile(IdseError):
    """A file of the workspace cannot be read or does not match its schema."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)


class ReadOnly(IdseError):
    """The workspace (or the file a command must write) cannot be written."""


class Refused(IdseError):
    """A state change that the pipeline rules do not allow."""


class LockTimeout(IdseError):
    """Another idse process holds the workspace lock."""


class Failed(IdseError):
    """The command ran but its result is a failure (findings, out-of-date files, conflicts)."""

    exit_code = EXIT_FINDINGS


class RemoteError(IdseError):
    """A sync remote could not be reached or refused the request."""

    exit_code = EXIT_FINDINGS
