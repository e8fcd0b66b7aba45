"""`idse mcp`: serve the workspace to IDE agents over the Model Context Protocol (stdio)."""

from __future__ import annotations

from pathlib import Path

import click

EXTRA_HINT = "idse mcp needs the MCP SDK: pip install 'idse-orchestrator[mcp]'"


@click.command()
@click.option(
    "--root",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Repository (or a folder inside it) whose .idse/ to serve (default: the current directory).",
)
def mcp(root: Path | None) -> int:
    """Serve this workspace over the Model Context Protocol on stdin/stdout.

    Tools: status, sessions, session_info, route, validate, build, explain, read_document,
    write_document, accept, compile_agent_spec, spawn (the JSON of the matching --json commands).
    Resources: every pipeline document as idse://<project>/<session>/<stage>, and idse://rules.
    Register the command `idse mcp` with an editor or agent ('idse docs show mcp' shows how).
    Needs the extra: pip install 'idse-orchestrator[mcp]'.
    """
    from idse_orchestrator.errors import UsageError
    from idse_orchestrator.workspace import Workspace

    try:
        import mcp as _sdk  # noqa: F401
    except ImportError:
        raise UsageError(EXTRA_HINT) from None
    ws = Workspace.discover(root.resolve() if root is not None else Path.cwd())
    try:
        from idse_orchestrator.mcp.server import serve
    except ImportError as exc:  # an SDK of another major version
        raise UsageError(f"{EXTRA_HINT} (the installed SDK does not fit: {exc})") from None
    return serve(ws.root)
