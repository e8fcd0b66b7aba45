"""Views benchmark at scale: meta.md, `idse site` and `idse graph` on a generated workspace.

    python benchmarks/bench_site.py [--sessions 1000] [--workdir DIR]

Prints, in one run: the cold build (which writes meta.md) and meta.md's size; a cold `idse site`
with Graphviz (when installed) and with the built-in layout, the no-op rerun and its ratio to the
cold one, and how many pages one edited spec rewrites; the size of index.html; the Mermaid graph's
edges and characters against Mermaid's limits (500, 50,000) and the DOT graph's edges.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_workspace import generate  # noqa: E402


def timed(func):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = func()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="idse-bench-site-"))
    root = base / "repo"
    try:
        run(root, args.sessions)
    finally:
        if args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)


def run(root: Path, sessions: int) -> None:
    from idse_orchestrator.engine.build import build
    from idse_orchestrator.engine.graph import graph_model, render
    from idse_orchestrator.engine.queries import task_list
    from idse_orchestrator.views.site import make_site
    from idse_orchestrator.workspace import Workspace

    generate(root, sessions)
    ws = Workspace(root)
    proj = ws.project("bench")
    _, cold_build = timed(lambda: build(ws, proj))
    meta = proj.path / "meta.md"
    print(f"sessions: {sessions}")
    print(f"cold build: {cold_build:.1f}s; meta.md: {meta.stat().st_size / 1024:.0f} KiB")

    out_dot, out_own = root / "site-dot", root / "site-own"
    if shutil.which("dot"):
        (site, _), cold_dot = timed(lambda: make_site(ws, proj, out_dot, use_dot=True))
        print(f"cold site, Graphviz: {cold_dot:.1f}s for {len(site.written)} pages")
        (again, _), noop_dot = timed(lambda: make_site(ws, proj, out_dot, use_dot=True))
        print(
            f"no-op site, Graphviz: {noop_dot:.1f}s, {len(again.written)} pages rewritten; "
            f"no-op / cold = {noop_dot / cold_dot:.2f}"
        )
    (site, _), cold = timed(lambda: make_site(ws, proj, out_own, use_dot=False))
    print(f"cold site, built-in layout: {cold:.1f}s for {len(site.written)} pages")
    (again, _), noop = timed(lambda: make_site(ws, proj, out_own, use_dot=False))
    print(f"no-op site: {noop:.1f}s, {len(again.written)} pages rewritten; no-op / cold = {noop / cold:.2f}")
    spec = proj.session_path(proj.session_ids()[sessions // 2]) / "specs/spec.md"
    spec.write_text(spec.read_text().replace("## Acceptance Criteria", "## Criteria, maybe"))
    (edited, _), edit = timed(lambda: make_site(ws, proj, out_own, use_dot=False))
    print(f"one broken spec: {edit:.1f}s, pages rewritten: {sorted(edited.written)}")
    print(f"index.html: {(out_own / 'index.html').stat().st_size / 1024:.0f} KiB")

    model = graph_model(task_list(ws, proj, None), None, detail=False)
    mermaid = render("mermaid", model)
    edges = sum(1 for line in mermaid.splitlines() if " --> " in line)
    print(f"mermaid: {edges} edges (limit 500), {len(mermaid):,} characters (limit 50,000)")
    print(f"dot: {render('dot', model).count(' -> ')} edges (the whole readable graph)")


if __name__ == "__main__":
    main()
