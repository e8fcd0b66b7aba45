"""The stdio MCP server: the tools of ``tools`` and the documents as resources, on the ``mcp`` SDK.

One process serves one client. Calls run one at a time in a worker thread (the build changes the
working directory and holds the workspace's build lock, so two calls must never overlap), and
everything imported, parsed and cached stays warm between calls. The protocol owns stdout: stray
prints go to stderr, and so does the log.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from idse_orchestrator import __version__
from idse_orchestrator.errors import IdseError
from idse_orchestrator.mcp import tools
from idse_orchestrator.workspace import Workspace

log = logging.getLogger("idse.mcp")

SCHEME = "idse"
RULES_URI = f"{SCHEME}://rules"
DOCUMENT_TEMPLATE = SCHEME + "://{project}/{session}/{stage}"
INSTRUCTIONS = (
    "Design-time documentation workspace (.idse/): seven pipeline documents per session (intent, "
    "context, spec, plan, tasks, implementation, feedback). Use route to find the agent of a stage, "
    "read_document/write_document to edit a document (write_document returns its findings), "
    "validate and build to check the workspace."
)


def document_uri(project: str, session: str, stage: str) -> str:
    return f"{SCHEME}://{quote(project, safe='')}/{quote(session, safe='')}/{stage}"


class IdseServer:
    """The server's state: the workspace root, and a lock making calls one at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = anyio.Lock()

    def workspace(self) -> Workspace:
        # A fresh object per call: the config is re-read when it changed (load_config caches by mtime).
        return Workspace(self.root)

    def call(self, name: str, arguments: dict[str, Any]) -> tools.Outcome:
        """Run one tool synchronously (in the worker thread). Bad arguments raise ``MCPError``."""
        spec = tools.BY_NAME.get(name)
        if spec is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {name!r}; tools: {', '.join(tools.BY_NAME)}")
        try:
            args = spec.args.model_validate(arguments)
        except ValidationError as exc:
            from idse_orchestrator.fsutil import pydantic_problem

            raise MCPError(
                types.INVALID_PARAMS, f"invalid arguments for {name}: {pydantic_problem(exc)}"
            ) from None
        return spec.run(self.workspace(), args)

    async def call_tool(self, _ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        async with self.lock:
            try:
                outcome = await anyio.to_thread.run_sync(self.call, params.name, params.arguments or {})
            except MCPError:
                raise
            except IdseError as exc:
                # What the CLI prints as one line and an exit code: a tool error the caller can read.
                message = exc.message.splitlines()[0] if exc.message else type(exc).__name__
                log.info("%s: %s", params.name, message)
                data = {"error": message, "exit_code": exc.exit_code}
                return _result(data, is_error=True)
            except Exception as exc:
                problem = _os_problem(exc) if isinstance(exc, OSError) else None
                if problem is not None:  # a read-only or full disk: bad input, as under the CLI
                    return _result({"error": problem, "exit_code": 2}, is_error=True)
                # A bug: reported to the caller and logged, and the server stays up.
                log.exception("tool %s failed", params.name)
                data = {"error": f"internal error: {type(exc).__name__}: {exc}", "exit_code": 3}
                return _result(data, is_error=True)
        result = _result(outcome.data, is_error=False)
        result.meta = {"idse/exit_code": outcome.exit_code}
        return result

    async def list_tools(self, _ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.name, description=t.description, input_schema=tools.input_schema(t))
                for t in tools.TOOLS
            ]
        )

    async def list_resources(self, _ctx: Any, _params: Any) -> types.ListResourcesResult:
        async with self.lock:
            found = await anyio.to_thread.run_sync(tools.documents, self.workspace())
        resources = [
            types.Resource(
                uri=RULES_URI,
                name="rules",
                description="The constitution's rules with this workspace's overrides (idse rules --json).",
                mime_type="application/json",
            )
        ]
        resources += [
            types.Resource(
                uri=document_uri(project, session, stage),
                name=f"{project}/{session}/{stage}",
                description=f"{stage} document of session {session}",
                mime_type="text/markdown",
            )
            for project, session, stage, _path in found
        ]
        return types.ListResourcesResult(resources=resources)

    async def list_templates(self, _ctx: Any, _params: Any) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            uri_template=DOCUMENT_TEMPLATE,
            name="document",
            description="A pipeline document: project, session id, stage name.",
            mime_type="text/markdown",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        self, _ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        async with self.lock:
            text, mime = await anyio.to_thread.run_sync(self.read, uri)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type=mime)]
        )

    def read(self, uri: str) -> tuple[str, str]:
        parts = urlsplit(uri)
        if parts.scheme != SCHEME:
            raise MCPError(types.INVALID_PARAMS, f"not an {SCHEME}:// resource: {uri}")
        ws = self.workspace()
        if uri == RULES_URI:
            return json.dumps(tools.rules_data(ws), indent=2, ensure_ascii=False), "application/json"
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        if len(segments) != 2:
            raise MCPError(types.INVALID_PARAMS, f"no resource {uri}; documents are {DOCUMENT_TEMPLATE}")
        try:
            args = tools.StageArgs(project=unquote(parts.netloc), session=segments[0], stage=segments[1])  # type: ignore[arg-type]
            data = tools.read_document(ws, args).data
        except (ValidationError, IdseError) as exc:
            message = exc.message if isinstance(exc, IdseError) else f"no stage {segments[1]!r}"
            raise MCPError(types.INVALID_PARAMS, f"no resource {uri}: {message}") from None
        if data["text"] is None:
            raise MCPError(types.INVALID_PARAMS, f"no resource {uri}: {data['path']} does not exist")
        return str(data["text"]), "text/markdown"

    def server(self) -> Server[Any]:
        return Server(
            "idse",
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_templates,
            on_read_resource=self.read_resource,
        )


def _os_problem(exc: OSError) -> str | None:
    """The CLI's wording for a workspace that cannot be written (see ``cli.run``); None for a bug."""
    import errno

    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"the workspace is read-only: cannot write{where}; read tools still work"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device{where}"
    return None


def _result(data: dict[str, Any], *, is_error: bool) -> types.CallToolResult:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=data, is_error=is_error
    )


def serve(root: Path) -> int:
    """Serve the workspace at ``root`` over stdin/stdout until the client closes the connection."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="idse mcp: %(levelname)s %(message)s"
    )
    idse = IdseServer(root)
    app = idse.server()

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            # The transport now holds its own handle on the real stdout: from here on, anything Python
            # code prints goes to stderr, never into the protocol.
            previous, sys.stdout = sys.stdout, sys.stderr
            try:
                await app.run(read_stream, write_stream, app.create_initialization_options())
            finally:
                sys.stdout = previous

    anyio.run(main)
    return 0
