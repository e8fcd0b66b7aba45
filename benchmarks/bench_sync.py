"""Sync benchmark: `idse sync` against the protocol's floor, ratios measured in one run.

    python benchmarks/bench_sync.py [--sessions 1000] [--concurrency 4] [--workdir DIR]
    python benchmarks/bench_sync.py --scale 10000 [--sessions 1000]
    python benchmarks/bench_sync.py --backends [--sessions 100]

Default mode: generates N sessions (7 documents each), starts the test Artifact Core server
(tests/artifact_core_server.py) on 127.0.0.1 in its own process, and times:

- the first `idse sync push` (a process, end to end) vs a plain loop of the same PUTs (read each
  file, hash it, PUT {content, sha256, base_revision: null}) with one requests.Session;
- `idse sync pull` into an empty clone vs a plain loop: GET the listing, GET each document, write it;
- with IDSE_TEST_PG_DSN set: the first `idse sync push` to PostgreSQL (in a throwaway schema).
Targets: push and pull <= 3x the plain loops; PostgreSQL first push of 1,000 sessions <= 15 s.

`--scale M`: the first push (artifact-core) of `--sessions` sessions and of M sessions, each in a
child process whose peak RSS is read from the kernel (wait4). Targets: linear, the M-session push
<= 1.1 x M/sessions times the smaller one (10,000 vs 1,000: <= 11x); peak RSS <= 300 MB.

`--backends`: the first push of `--sessions` (default 100) sessions to every backend of the
conformance suite (tests/conformance/backends.py) that can run here: time, and the requests or
transactions the client made (counted in the pushing process, by wrapping requests' and psycopg's
entry points there).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

sys.path.insert(0, str(HERE.parent / "tests"))

from make_workspace import generate  # noqa: E402

from idse_orchestrator.stages import STAGES  # noqa: E402

TOKEN = "bench-token"
PROJECT = "bench"
SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from artifact_core_server import ArtifactCoreServer
srv = ArtifactCoreServer(token=sys.argv[2]).start()
print(srv.url, flush=True)
sys.stdin.read()
srv.stop()
"""


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(HERE.parent / "tests"), TOKEN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop_server(proc: subprocess.Popen[str]) -> float:
    """Stop the server; the CPU seconds it used."""
    assert proc.stdin is not None
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return float(usage.ru_utime + usage.ru_stime)


def idse(cwd: Path, env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - start, done


# Runs `idse` in a child that counts the HTTP requests and database transactions it makes.
COUNTING = """
import atexit, json, sys, threading
counts = {"http_requests": 0, "db_transactions": 0}
lock = threading.Lock()
def counting(key, real):
    def wrapper(*args, **kwargs):
        with lock:
            counts[key] += 1
        return real(*args, **kwargs)
    return wrapper
import requests
requests.Session.request = counting("http_requests", requests.Session.request)
try:
    import psycopg
    psycopg.Connection.transaction = counting("db_transactions", psycopg.Connection.transaction)
except ImportError:
    pass
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(counts)))
from idse_orchestrator.entry import main
raise SystemExit(main(sys.argv[2:]))
"""


def measured(cwd: Path, env: dict[str, str], *args: str, counts: Path | None = None) -> dict[str, Any]:
    """Run `idse args` in a child process: seconds, exit code, output, its own peak RSS (wait4)."""
    if counts is None:
        cmd = [sys.executable, "-m", "idse_orchestrator", *args]
    else:
        cmd = [sys.executable, "-c", COUNTING, str(counts), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result: dict[str, Any] = {
            "seconds": seconds,
            "code": proc.returncode,
            "stdout": out.read().decode(),
            "stderr": err.read().decode(),
            # ru_maxrss is in kilobytes on Linux
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        }
    if counts is not None and counts.exists():
        result.update(json.loads(counts.read_text()))
    return result


def make_workspace(root: Path, sessions: int) -> None:
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            generate(root, sessions, project=PROJECT)
        finally:
            sys.stdout = stdout


def documents(root: Path) -> list[tuple[str, str, Path]]:
    base = root / ".idse" / "projects" / PROJECT / "sessions"
    out = []
    for session in sorted(p.name for p in base.iterdir() if p.is_dir()):
        for stage in STAGES:
            path = base / session / stage.relpath
            if path.is_file():
                out.append((session, stage.name, path))
    return out


def url_of(base: str, project: str, *parts: str) -> str:
    return f"{base}/v1/projects/" + "/".join(quote(p, safe="") for p in (project, *parts))


def plain_push(base: str, project: str, docs: list[tuple[str, str, Path]]) -> float:
    start = time.perf_counter()
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        for session, stage, path in docs:
            content = path.read_text(encoding="utf-8")
            body = {
                "content": content,
                "sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
                "base_revision": None,
            }
            answer = http.put(url_of(base, project, "sessions", session, "artifacts", stage), json=body)
            assert answer.status_code == 200, answer.text
    return time.perf_counter() - start


def plain_pull(base: str, project: str, into: Path) -> tuple[float, int]:
    start = time.perf_counter()
    count = 0
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        listing = http.get(url_of(base, project, "artifacts")).json()["artifacts"]
        for ref in listing:
            got = http.get(
                url_of(base, project, "sessions", ref["session"], "artifacts", ref["stage"])
            ).json()
            assert hashlib.sha256(got["content"].encode("utf-8")).hexdigest() == got["sha256"]
            target = into / got["session"] / f"{got['stage']}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(got["content"], encoding="utf-8")
            count += 1
    return time.perf_counter() - start, count


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDSE_SYNC_")}
    env.pop("IDSE_PROJECT", None)
    env.update(values)
    return env


def bench_postgres(dsn: str, ws: Path, count: int, concurrency: int) -> dict[str, Any]:
    import psycopg

    schema = f"idse_bench_{uuid.uuid4().hex[:10]}"
    env = clean_env(IDSE_SYNC_DSN=dsn, IDSE_SYNC_SCHEMA=schema, IDSE_SYNC_CONCURRENCY=str(concurrency))
    shutil.rmtree(ws / ".idse" / "projects" / PROJECT / ".sync", ignore_errors=True)
    try:
        _, init = idse(ws, env, "sync", "init")
        assert init.returncode == 0, init.stderr
        seconds, pushed = idse(ws, env, "sync", "push", "--json")
        assert pushed.returncode == 0, pushed.stderr
        assert len(json.loads(pushed.stdout)["transferred"]) == count
        return {"postgres_first_push_s": round(seconds, 3), "postgres_docs_per_s": round(count / seconds, 1)}
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def bench_scale(work: Path, small: int, large: int, concurrency: int) -> dict[str, Any]:
    """The first push of ``small`` then ``large`` sessions to artifact-core: time and peak RSS.

    Each push gets a server process of its own, and starts once the generated workspace is on disk
    (``os.sync``), so neither competes with the other's memory or with the writeback."""
    out: dict[str, Any] = {"mode": "scale", "concurrency": concurrency}
    for label, count in (("small", small), ("large", large)):
        ws = work / f"ws-{count}"
        make_workspace(ws, count)
        os.sync()
        server, url = start_server()
        try:
            env = clean_env(
                IDSE_SYNC_URL=url,
                IDSE_SYNC_TOKEN=TOKEN,
                IDSE_SYNC_BACKEND="artifact-core",
                IDSE_SYNC_CONCURRENCY=str(concurrency),
            )
            run = measured(ws, env, "sync", "push", "--json")
        finally:
            server_cpu = stop_server(server)
        assert run["code"] == 0, run["stderr"][-2000:]
        assert len(json.loads(run["stdout"])["transferred"]) == count * 7
        out[label] = {
            "sessions": count,
            "documents": count * 7,
            "push_s": round(run["seconds"], 2),
            "push_cpu_s": run["cpu_s"],
            "server_cpu_s": round(server_cpu, 2),
            "peak_rss_mb": run["peak_rss_mb"],
        }
        shutil.rmtree(ws, ignore_errors=True)
    ratio = out["large"]["push_s"] / out["small"]["push_s"]
    allowed = 1.1 * large / small
    out["time_ratio"] = round(ratio, 2)
    out["targets"] = {
        "time_ratio_max": round(allowed, 2),
        "linear_ok": ratio <= allowed,
        "peak_rss_max_mb": 300,
        "rss_ok": out["large"]["peak_rss_mb"] <= 300,
    }
    return out


def bench_backends(work: Path, sessions: int) -> dict[str, Any]:
    """The first push of ``sessions`` sessions to each conformance backend that can run here."""
    from conformance.backends import FACTORIES, fresh_dir

    ws = work / "ws"
    make_workspace(ws, sessions)
    out: dict[str, Any] = {
        "mode": "backends",
        "sessions": sessions,
        "documents": sessions * 7,
        "backends": {},
    }
    for factory in FACTORIES:
        reason = factory.unavailable()
        if reason is not None:
            out["backends"][factory.name] = {"skipped": reason}
            continue
        shutil.rmtree(ws / ".idse" / "projects" / PROJECT / ".sync", ignore_errors=True)
        with factory.start(fresh_dir(work, f"remote-{factory.name}")) as remote:
            env = clean_env(**remote.env)
            init = measured(ws, env, "sync", "init")
            assert init["code"] == 0, init["stderr"]
            run = measured(ws, env, "sync", "push", "--json", counts=work / f"counts-{factory.name}.json")
            assert run["code"] == 0, run["stderr"][-2000:]
            assert len(json.loads(run["stdout"])["transferred"]) == sessions * 7
            out["backends"][factory.name] = {
                "push_s": round(run["seconds"], 3),
                "http_requests": run.get("http_requests"),
                "db_transactions": run.get("db_transactions"),
                "peak_rss_mb": run["peak_rss_mb"],
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--scale", type=int, default=None, metavar="M", help="linearity and peak RSS")
    parser.add_argument("--backends", action="store_true", help="first push to every backend")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idse-bench-sync-", dir=args.workdir))
    os.chmod(work, 0o755)  # a PgBouncer started as root reads its files as another user
    if args.scale or args.backends:
        try:
            if args.scale:
                result = bench_scale(work, args.sessions, args.scale, args.concurrency)
            else:
                sessions = args.sessions if "--sessions" in sys.argv else 100
                result = bench_backends(work, sessions)
            print(json.dumps(result, indent=2))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    server, url = start_server()
    try:
        ws = work / "ws"
        make_workspace(ws, args.sessions)
        docs = documents(ws)
        env = clean_env(
            IDSE_SYNC_URL=url,
            IDSE_SYNC_TOKEN=TOKEN,
            IDSE_SYNC_BACKEND="artifact-core",
            IDSE_SYNC_CONCURRENCY=str(args.concurrency),
        )
        result: dict[str, Any] = {
            "sessions": args.sessions,
            "documents": len(docs),
            "concurrency": args.concurrency,
        }

        plain_put_s = plain_push(url, "plain", docs)
        push_s, pushed = idse(ws, env, "sync", "push", "--json")
        assert pushed.returncode == 0, pushed.stderr
        assert len(json.loads(pushed.stdout)["transferred"]) == len(docs)
        noop_s, again = idse(ws, env, "sync", "push", "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["transferred"] == []
        result.update(
            push_s=round(push_s, 3),
            plain_put_loop_s=round(plain_put_s, 3),
            push_ratio=round(push_s / plain_put_s, 2),
            noop_push_s=round(noop_s, 3),
        )

        plain_get_s, got = plain_pull(url, PROJECT, work / "plain-pull")
        assert got == len(docs)
        clone = work / "clone"
        clone.mkdir()
        _, init = idse(clone, env, "init", PROJECT)
        assert init.returncode == 0, init.stderr
        pull_s, pulled = idse(clone, env, "sync", "pull", "--json")
        report = json.loads(pulled.stdout)
        # The clone's own blueprint (7 documents) conflicts with the pushed one; the rest is pulled.
        assert len(report["transferred"]) + len(report["conflicts"]) == len(docs), pulled.stderr
        result.update(
            pull_s=round(pull_s, 3),
            plain_get_loop_s=round(plain_get_s, 3),
            pull_ratio=round(pull_s / plain_get_s, 2),
        )

        dsn = os.environ.get("IDSE_TEST_PG_DSN")
        if dsn:
            result.update(bench_postgres(dsn, ws, len(docs), args.concurrency))
        else:
            result["postgres_first_push_s"] = None
        result["targets"] = {
            "push_ratio_max": 3.0,
            "push_ok": result["push_ratio"] <= 3.0,
            "pull_ratio_max": 3.0,
            "pull_ok": result["pull_ratio"] <= 3.0,
            "postgres_first_push_1000_sessions_max_s": 15.0,
            # Scaled to the sessions measured: the target is for 1,000.
            "postgres_ok": None
            if result["postgres_first_push_s"] is None
            else result["postgres_first_push_s"] <= 15.0 * args.sessions / 1000,
        }
        print(json.dumps(result, indent=2))
    finally:
        stop_server(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
