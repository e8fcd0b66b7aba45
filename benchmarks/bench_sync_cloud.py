"""Cloud sync benchmark: pushing N sessions to the notion and firestore stores, time and requests.

    python benchmarks/bench_sync_cloud.py [--sessions 100] [--workdir DIR]

Generates N sessions (7 documents each) and, for each backend, times `idse sync push` (a process,
end to end) to an empty remote, then a no-op push, then a pull into a fresh clone, counting the
HTTP requests the server received for each:

- notion: the local Notion API server of the tests (tests/notion_server.py), in this process;
- firestore: the official Cloud Firestore emulator behind the tests' counting proxy
  (tests/firestore_server.py); skipped when the emulator is not installed.

Local servers answer in microseconds, so the times measure idse itself; the request counts are what
a real service would see. For Notion, whose documented rate limit is an average of three requests
per second, ``notion_push_at_rate_limit_s`` is the least time the same push takes there.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_sync import idse  # noqa: E402
from make_workspace import generate  # noqa: E402

PROJECT = "bench"
NOTION_RATE = 3.0  # requests per second, Notion's documented average


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSE_SYNC_")}
    for name in ("IDSE_PROJECT", "FIRESTORE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        env.pop(name, None)
    env.update(values)
    return env


def measure(
    name: str, ws: Path, work: Path, env: dict[str, str], documents: int, count: Callable[[], int]
) -> dict[str, Any]:
    shutil.rmtree(ws / ".idse" / "projects" / PROJECT / ".sync", ignore_errors=True)
    out: dict[str, Any] = {}
    before = count()
    seconds, pushed = idse(ws, env, "sync", "push", "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert len(json.loads(pushed.stdout)["transferred"]) == documents
    out[f"{name}_push_s"] = round(seconds, 2)
    out[f"{name}_push_requests"] = count() - before
    out[f"{name}_push_requests_per_document"] = round((count() - before) / documents, 2)
    before = count()
    seconds, again = idse(ws, env, "sync", "push", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["transferred"] == []
    out[f"{name}_noop_push_s"] = round(seconds, 2)
    out[f"{name}_noop_push_requests"] = count() - before
    clone = work / f"clone-{name}"
    clone.mkdir()
    _, init = idse(clone, env, "init", PROJECT)
    assert init.returncode == 0, init.stderr
    before = count()
    seconds, pulled = idse(clone, env, "sync", "pull", "--json")
    report = json.loads(pulled.stdout)
    # The clone's own blueprint (7 documents) conflicts with the pushed one; the rest is pulled.
    assert len(report["transferred"]) + len(report["conflicts"]) == documents, pulled.stderr
    out[f"{name}_pull_s"] = round(seconds, 2)
    out[f"{name}_pull_requests"] = count() - before
    return out


def bench_notion(ws: Path, work: Path, documents: int) -> dict[str, Any]:
    from notion_server import notion_remote

    remote = notion_remote()
    try:
        env = clean_env(**remote.env)
        result = measure("notion", ws, work, env, documents, lambda: remote.server.count)
        assert remote.server.violations == [], remote.server.violations[:3]
        result["notion_push_at_rate_limit_s"] = round(result["notion_push_requests"] / NOTION_RATE, 1)
        return result
    finally:
        remote.stop()


def bench_firestore(ws: Path, work: Path, documents: int) -> dict[str, Any]:
    from firestore_server import Emulator, find_emulator, firestore_remote

    launcher = find_emulator()
    if launcher is None:
        return {"firestore_push_s": None, "firestore_skipped": "emulator not installed"}
    emulator = Emulator(launcher)
    remote = firestore_remote(emulator)
    try:
        env = clean_env(**remote.env)
        return measure("firestore", ws, work, env, documents, lambda: remote.proxy.count)
    finally:
        remote.stop()
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idse-bench-cloud-", dir=args.workdir))
    try:
        ws = work / "ws"
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                generate(ws, args.sessions, project=PROJECT)
            finally:
                sys.stdout = stdout
        documents = args.sessions * 7
        result: dict[str, Any] = {"sessions": args.sessions, "documents": documents}
        result.update(bench_notion(ws, work, documents))
        result.update(bench_firestore(ws, work, documents))
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
