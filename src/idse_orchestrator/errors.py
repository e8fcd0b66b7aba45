"""The one error tree. Every expected failure is an ``IdseError`` carrying its exit code.

The CLI translates these to a single line on stderr in one place (``cli.run``); nothing else
catches them, so core functions stay plain and testable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idse_orchestrator.workspace import Workspace

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


def file_message(path: str, problem: str, line: int | None = None) -> str:
    """The one wording of a problem in a file: ``path: problem``, or ``path:line: problem``."""
    return f"{path}:{line}: {problem}" if line is not None else f"{path}: {problem}"


class BadFile(IdseError):
    """A file of the workspace cannot be read or does not match its schema.

    The error is structured: ``path`` (as shown), ``problem`` (what is wrong, without the path) and
    ``line`` (1-based, when known). ``message`` is rendered from them by ``file_message``; a caller
    that knows the file by another name re-targets it with ``at`` or ``relative_to`` instead of
    taking the message apart (a path may itself contain ``": "``).
    """

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.line = line
        super().__init__(file_message(self.path, problem, line))
        # Rebuilds the same error when unpickled (the default would pass only the message back).
        self.args = (self.path, problem, line)

    @property
    def detail(self) -> str:
        """The problem for a report that shows the path apart (a finding): with its line, if known."""
        return self.problem if self.line is None else f"line {self.line}: {self.problem}"

    def at(self, path: Path | str) -> BadFile:
        """The same problem, reported for ``path``."""
        return BadFile(path, self.problem, self.line)

    def relative_to(self, ws: Workspace) -> BadFile:
        """The same problem with the path repo-relative (unchanged when outside the workspace)."""
        return self.at(ws.rel(Path(self.path)))


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
