"""One of the two modules that import doit (with ``doit_state``, which reads its database).

doit runs embedded as a library: a ``DoitMain`` subclass with a ``TaskLoader2`` that turns idse's
task dictionaries into doit tasks. It never reads the user's ``pyproject.toml``/``doit.cfg``, offers
only the commands idse uses (so an installed doit plugin cannot replace them), keeps its state in a
sqlite3 file inside the workspace, writes to the stream we give it and calls itself ``idse``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from doit.cmd_base import TaskLoader2
from doit.cmd_info import Info
from doit.cmd_list import List
from doit.cmd_run import Run
from doit.dependency import MD5Checker, SqliteDB, get_file_md5
from doit.doit_cmd import DoitMain
from doit.loader import generate_tasks
from doit.plugin import PluginDict
from doit.task import Task
from doit.tools import config_changed

from idse_orchestrator.engine.types import TaskSpec, TaskStatus

BACKEND = "idse-sqlite"


class StateDB(SqliteDB):  # type: ignore[misc]
    """doit's sqlite3 backend: portable across machines and Python versions, each commit atomic,
    and read lazily per task, so a build that looks at few tasks costs little however big the project."""

    desc = "sqlite3 file in the workspace cache"


# A file modified this close to when its state was recorded may change again without changing its
# mtime (coarse filesystem timestamps): its content is compared, not trusted by timestamp.
RACY_WINDOW_S = 2.0


class RacyMD5Checker(MD5Checker):  # type: ignore[misc]
    """doit's md5 checker, minus its blind spot: doit trusts an unchanged timestamp, so an edit that
    lands in the same timestamp tick as the recorded state would be missed forever. A state recorded
    within RACY_WINDOW_S of the file's mtime is marked racy and always checked by content."""

    def __init__(self) -> None:
        super().__init__()
        # Many tasks depend on one file (every session's on the blueprint's spec): its digest is
        # taken once per doit run (one checker each) while its stat stays the same.
        self._digests: dict[tuple[Any, ...], str] = {}

    def check_modified(self, file_path: str, file_stat: Any, state: Any) -> bool:
        if len(state) == 4 and state[3]:
            if file_stat.st_size != state[1]:
                return True
            return bool(state[2] != get_file_md5(file_path))
        return bool(super().check_modified(file_path, file_stat, state[:3]))

    def get_state(self, dep: str, current_state: Any) -> Any:
        import time

        st = os.stat(dep)
        if (
            current_state
            and current_state[0] == st.st_mtime
            and not (len(current_state) == 4 and current_state[3])
        ):
            return None
        racy = time.time() - st.st_mtime < RACY_WINDOW_S
        if racy:
            return (st.st_mtime, st.st_size, get_file_md5(dep), racy)
        key = (dep, st.st_mtime_ns, st.st_size, st.st_ino)
        digest = self._digests.get(key)
        if digest is None:
            digest = self._digests[key] = get_file_md5(dep)
        return (st.st_mtime, st.st_size, digest, racy)


def task_outputs(task: TaskSpec) -> list[str]:
    """Every file a task writes: its doit targets plus outputs that may legitimately be absent."""
    from idse_orchestrator.engine.outputs import split_output

    return list(
        dict.fromkeys([*task.get("targets", []), *(split_output(o)[0] for o in task.get("outputs", []))])
    )


def output_specs(task: TaskSpec) -> list[str]:
    """Like ``task_outputs``, keeping the ``#managed`` marks the content check needs."""
    plain = set(task.get("targets", [])) - {o.split("#", 1)[0] for o in task.get("outputs", [])}
    return list(
        dict.fromkeys([*(t for t in task.get("targets", []) if t in plain), *task.get("outputs", [])])
    )


class _ConfigChanged(config_changed):  # type: ignore[misc]
    """doit's ``config_changed`` with its call signature known in advance (see ``_presigned``)."""


def _presigned() -> None:
    """doit asks ``inspect.signature`` of every action and ``uptodate`` callable of every task, each
    time it checks or runs it (to pass ``task``/``values``): about 5 % of a cold build.
    A function's ``__signature__``, computed once here, is what ``inspect.signature`` answers."""
    import inspect

    from idse_orchestrator.engine import outputs

    for func in (outputs.run_recorded, outputs.outputs_unchanged, outputs.reads_unchanged):
        if "__signature__" not in vars(func):
            setattr(func, "__signature__", inspect.signature(func))  # noqa: B010 - a function attribute
    if "__signature__" not in vars(_ConfigChanged):
        _ConfigChanged.__signature__ = inspect.signature(config_changed("").__call__)


def to_doit(task: TaskSpec) -> dict[str, Any]:
    """An idse task dict as a doit task dict: the combined config becomes one ``config_changed``, and
    every action records its outputs so that an edited or damaged output makes the task rerun."""
    from idse_orchestrator.engine.outputs import outputs_unchanged, reads_unchanged, run_recorded

    out = {k: v for k, v in task.items() if k not in ("config", "owner", "watch", "outputs", "reads")}
    outputs = output_specs(task)
    reads = list(task.get("reads", []))
    uptodate: list[Any] = []
    if "config" in task or task.get("watch"):
        from idse_orchestrator.engine.outputs import path_kind

        kinds = ",".join(path_kind(p) for p in task.get("watch", []))
        uptodate.append(_ConfigChanged(f"{task.get('config', '')};kinds={kinds}"))
    if outputs or reads:
        out["actions"] = [
            (run_recorded, [func, list(args), outputs, reads]) for func, args in task["actions"]
        ]
        uptodate.append((outputs_unchanged, [outputs], {}))
    if reads:
        uptodate.append((reads_unchanged, [reads], {}))
    if uptodate:
        out["uptodate"] = uptodate
    out.setdefault("verbosity", 0)
    return out


def doit_tasks(task_dicts: Iterable[TaskSpec]) -> list[Task]:
    """Group idse task dicts by basename and let doit build its Task objects (with group tasks)."""
    _presigned()
    groups: dict[str, list[TaskSpec]] = {}
    for task in task_dicts:
        groups.setdefault(task["basename"], []).append(task)
    tasks: list[Task] = []
    for basename, items in groups.items():
        if len(items) == 1 and items[0].get("name") is None:
            single = to_doit(items[0])
            single.pop("name", None)
            single.pop("basename", None)
            tasks.extend(generate_tasks(basename, single))
        else:
            tasks.extend(generate_tasks(basename, (to_doit(t) for t in items)))
    return tasks


@dataclass
class TaskOutcome:
    name: str
    status: TaskStatus
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # path -> [digest, mtime_ns, size]


class Recorder:
    """A doit reporter that records each task's outcome and why it ran, and shows progress."""

    def __init__(self, progress: Callable[[str], None] | None, want_reasons: bool = True) -> None:
        self.want_reasons = want_reasons
        self.outcomes: dict[str, TaskOutcome] = {}
        self.dep_manager: Any = None
        self.tasks: dict[str, Any] = {}
        self.progress = progress
        self.runtime_errors: list[str] = []

    # doit's reporter interface ------------------------------------------------------------
    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        self.tasks = tasks

    def get_status(self, task: Any) -> None:
        pass

    def execute_task(self, task: Any) -> None:
        if task.subtask_of is None and not task.actions:
            return
        reasons: list[str] = []
        if self.dep_manager is not None and self.want_reasons:
            # doit's runner checks without keeping reasons; asking again (only for tasks that run) does.
            status = self.dep_manager.get_status(task, self.tasks, get_log=True)
            reasons = explain_reasons(status.reasons, self.dep_manager.get_values(task.name))
        self.outcomes[task.name] = TaskOutcome(task.name, "ran", reasons)
        if self.progress is not None:
            self.progress(task.name)

    def add_failure(self, task: Any, fail: Any) -> None:
        if not task.actions:
            return  # doit's group tasks fail with their members; report the members only
        message = fail.get_msg() if hasattr(fail, "get_msg") else str(fail)
        outcome = self.outcomes.setdefault(task.name, TaskOutcome(task.name, "ran"))
        if type(fail).__name__ == "UnmetDependency":
            outcome.status = "skipped"
            outcome.error = f"not run: upstream task failed ({message.strip()})"
            return
        outcome.status = "failed"
        outcome.error = message.strip().splitlines()[-1] if message.strip() else "failed"

    def add_success(self, task: Any) -> None:
        outcome = self.outcomes.get(task.name)
        if outcome is not None:
            outcome.outputs = dict((task.values or {}).get("outputs") or {})

    def skip_uptodate(self, task: Any) -> None:
        if task.actions:
            self.outcomes[task.name] = TaskOutcome(task.name, "up-to-date")
            if self.progress is not None:
                self.progress(task.name)

    def skip_ignore(self, task: Any) -> None:
        pass

    def cleanup_error(self, exception: Any) -> None:
        self.runtime_errors.append(str(exception))

    def runtime_error(self, msg: str) -> None:
        self.runtime_errors.append(msg.strip())

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        pass


def explain_reasons(reasons: dict[str, Any], values: dict[str, Any] | None = None) -> list[str]:
    """doit's status reasons as short, stable strings: ``changed_file_dep: path`` and so on."""
    from idse_orchestrator.engine.outputs import (
        changed_outputs,
        changed_reads,
        outputs_unchanged,
        reads_unchanged,
    )

    out: list[str] = []
    for key in sorted(reasons):
        value = reasons[key]
        if key == "uptodate_false":
            for utd, args, _kwargs in value:
                if utd is outputs_unchanged:
                    out.extend(changed_outputs(values, args[0]))
                elif utd is reads_unchanged:
                    out.extend(changed_reads(values, args[0]))
                else:
                    out.append("config_changed")
        elif key in ("changed_file_dep", "added_file_dep", "removed_file_dep", "missing_target"):
            items = value if isinstance(value, list) else [value]
            out.extend(f"{key}: {item}" for item in items)
        elif key == "has_no_dependencies":
            out.append("always_runs")
        elif key == "checker_changed":
            out.append("checker_changed")
        else:
            out.append(key)
    return sorted(dict.fromkeys(out))


class IdseRun(Run):  # type: ignore[misc]
    name = "run"

    # Only our backend and reporter: plugins found via entry points must not take over.
    def get_backends(self) -> dict[str, Any]:
        if "backend" in self.cmdparser:
            self.cmdparser["backend"].choices = {BACKEND: StateDB.desc}
        return {BACKEND: StateDB}

    def get_reporters(self) -> dict[str, Any]:
        return {}


class IdseInfo(Info):  # type: ignore[misc]
    name = "info"

    def get_backends(self) -> dict[str, Any]:
        return {BACKEND: StateDB}


class IdseList(List):  # type: ignore[misc]
    name = "list"

    def get_backends(self) -> dict[str, Any]:
        return {BACKEND: StateDB}


class Loader(TaskLoader2):  # type: ignore[misc]
    def __init__(
        self, make_tasks: Callable[[], Iterable[TaskSpec]], dep_file: str, recorder: Recorder | None
    ) -> None:
        super().__init__()
        self.make_tasks = make_tasks
        self.dep_file = dep_file
        self.recorder = recorder

    def load_doit_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "dep_file": self.dep_file,
            "backend": BACKEND,
            "check_file_uptodate": RacyMD5Checker,
            "verbosity": 0,
        }
        if self.recorder is not None:
            config["reporter"] = self.recorder
        return config

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Task]:
        if self.recorder is not None:
            self.recorder.dep_manager = cmd.dep_manager
        return doit_tasks(self.make_tasks())


class IdseDoit(DoitMain):  # type: ignore[misc]
    BIN_NAME = "idse"
    COMMANDS = (IdseRun, IdseList, IdseInfo)

    def __init__(self, loader: Loader) -> None:
        super().__init__(loader, config_filenames=())

    def get_cmds(self) -> PluginDict:
        cmds = PluginDict()
        for cmd_cls in self.COMMANDS:
            cmds[cmd_cls.get_name()] = cmd_cls
        return cmds


_FORK_HOOK = False


def _die_with_parent() -> None:
    """In a forked build worker: be killed when the build process dies, whatever kills it, so no
    orphan keeps working on (or holding open) the workspace."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: workers still end when their task queue closes
    if os.getppid() == 1:
        os._exit(1)  # the parent died before the hook ran


def workers_die_with_parent() -> None:
    global _FORK_HOOK
    if not _FORK_HOOK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_die_with_parent)
        _FORK_HOOK = True


@dataclass
class RunResult:
    code: int
    outcomes: list[TaskOutcome]
    errors: list[str]
    output: str


def run_tasks(
    make_tasks: Callable[[], Iterable[TaskSpec]],
    dep_file: str,
    selection: list[str],
    *,
    jobs: int = 1,
    force: bool = False,
    keep_going: bool = False,
    progress: Callable[[str], None] | None = None,
    want_reasons: bool = True,
) -> RunResult:
    """Run the selected tasks (all when empty). The caller has made the repo root the cwd."""
    recorder = Recorder(progress, want_reasons)
    out = io.StringIO()
    args = ["run"]
    if jobs > 1:
        workers_die_with_parent()
        args += ["-n", str(jobs), "-P", "process"]
    if force:
        args.append("--always-execute")
    if keep_going:
        args.append("--continue")
    args += selection
    main = IdseDoit(Loader(make_tasks, dep_file, recorder))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main.run(args)
    outcomes = sorted(recorder.outcomes.values(), key=lambda o: o.name)
    return RunResult(code, outcomes, recorder.runtime_errors, out.getvalue())


def dodo_tasks(task_dicts: Iterable[TaskSpec]) -> Iterator[dict[str, Any]]:
    """For dodo.py: idse task dicts in plain doit form."""
    for t in task_dicts:
        yield to_doit(t)
