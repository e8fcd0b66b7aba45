"""Plain `doit` over this repository's own `.idse/` workspace.

`doit list` and `doit` run the same task generators as `idse build` (validation per session: its
documents, pipeline order, metadata and staleness; the registry check, session_state.json, meta.md,
agent files and profiles), sharing the same sqlite3 dependency database in `.idse/.cache/`.
"""

from pathlib import Path

from idse_orchestrator.engine.build import DEFAULT_FAMILIES, dep_file, generator
from idse_orchestrator.engine.context import BuildContext
from idse_orchestrator.engine.doit_adapter import RacyMD5Checker, dodo_tasks
from idse_orchestrator.workspace import Workspace

_ws = Workspace.discover(Path(__file__).resolve().parent)
_ctx = BuildContext.create(_ws, _ws.project())
_ws.cache_dir.mkdir(parents=True, exist_ok=True)

DOIT_CONFIG = {
    "dep_file": dep_file(_ctx),
    "backend": "sqlite3",
    "check_file_uptodate": RacyMD5Checker,
    "verbosity": 0,
}


def _family(name):
    tasks = list(dodo_tasks(generator(_ctx, (name,))()))
    if len(tasks) == 1 and tasks[0].get("name") is None:
        single = {k: v for k, v in tasks[0].items() if k not in ("name", "basename")}

        def task_single():
            return single

        task_single.__doc__ = single.get("doc")
        return task_single

    def task_group():
        for task in tasks:
            yield {k: v for k, v in task.items() if k != "basename"}

    task_group.__doc__ = f"idse task family '{name}'"
    return task_group


for _name in DEFAULT_FAMILIES:
    globals()[f"task_{_name}"] = _family(_name)
