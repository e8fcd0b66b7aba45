"""doit's dependency database read and edited without running anything: what the next build would
do (``--dry-run``, ``--explain``, ``graph --status``), whether the file is usable, and forgetting
tasks whose inputs changed while they ran. With ``doit_adapter``, the only module that imports doit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from doit.dependency import Dependency

from idse_orchestrator.engine.doit_adapter import (
    RacyMD5Checker,
    StateDB,
    doit_tasks,
    explain_reasons,
    task_outputs,
)
from idse_orchestrator.engine.types import TaskSpec


def check_db(dep_file: str) -> str | None:
    """None when the state file is usable (or absent); otherwise why it is not."""
    import sqlite3

    if not os.path.exists(dep_file):
        return None
    try:
        conn = sqlite3.connect(dep_file)
        try:
            row = conn.execute("pragma quick_check").fetchone()
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
            if "doit" in tables:
                # doit's own schema: another one (an old or foreign file) would fail mid-build.
                conn.execute("select task_id, task_data from doit limit 1").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc) or type(exc).__name__
    return None if row and row[0] == "ok" else f"integrity check failed: {row[0] if row else '?'}"


def plan(make_tasks: Callable[[], Iterable[TaskSpec]], dep_file: str) -> dict[str, tuple[str, list[str]]]:
    """What the next run of these tasks does, running nothing: task -> (status, reasons).

    ``run``: the task reruns for the reasons given. ``up-to-date``: it does not. ``maybe``: only its
    inputs written by a task that reruns can make it rerun, and only if that task writes different
    bytes. Downstream tasks declare the *sources* of their upstream tasks, so ``maybe`` is rare: it
    is left for files that are both written and read by the graph (a stage's baselines).
    """
    from idse_orchestrator.engine.graph import task_name

    dicts = list(make_tasks())
    tasks = {t.name: t for t in doit_tasks(dicts)}
    producer = {f: task_name(t) for t in dicts for f in task_outputs(t)}
    reads_of = {task_name(t): list(t.get("reads", [])) for t in dicts}
    dep = Dependency(StateDB, dep_file, checker_cls=RacyMD5Checker)
    out: dict[str, tuple[str, list[str]]] = {}
    try:
        for name, task in tasks.items():
            if not task.actions:
                continue
            status = dep.get_status(task, tasks, get_log=True)
            if status.status == "up-to-date":
                out[name] = ("up-to-date", [])
            elif status.status == "error":
                out[name] = ("run", [f"missing_file_dep: {status.error_reason or '?'}"])
            else:
                out[name] = ("run", explain_reasons(status.reasons, dep.get_values(name)))
    finally:
        dep.close()
    changed = True
    while changed:  # propagate along files written by one task and read by another
        changed = False
        for name, task in tasks.items():
            if out.get(name, ("", []))[0] != "up-to-date":
                continue
            inputs = [*task.file_dep, *reads_of.get(name, [])]
            ups = sorted(
                {producer[f] for f in inputs if f in producer and out[producer[f]][0] != "up-to-date"}
            )
            if ups:
                out[name] = ("maybe", [f"upstream_reruns: {u}" for u in ups])
                changed = True
    return out


def forget_tasks(dep_file: str, names: Iterable[str]) -> None:
    """Drop what doit remembers of these tasks: their next run is unconditional."""
    dep = Dependency(StateDB, dep_file, checker_cls=RacyMD5Checker)
    try:
        for name in names:
            dep.remove(name)
    finally:
        dep.close()
