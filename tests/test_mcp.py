"""`idse mcp`: the SDK's own client talks to a real `idse mcp` subprocess over stdio.

Each test starts the server the way an editor does (a child process speaking JSON-RPC on its stdin
and stdout, started in the repository) and checks what a caller relies on: the tools and their
JSON, a written document's findings, resources, and that bad input is an error, never a crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is the 'mcp' extra: pip install 'idse-orchestrator[mcp]'")

import anyio  # noqa: E402
from mcp import Client, StdioServerParameters, stdio_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

TOOLS = {
    "status",
    "sessions",
    "session_info",
    "route",
    "validate",
    "build",
    "explain",
    "read_document",
    "write_document",
    "accept",
    "compile_agent_spec",
    "spawn",
}
INVALID_PARAMS = -32602


def with_server(root: Path, body: Callable[[Client], Awaitable[None]]) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "idse_orchestrator", "mcp"], cwd=str(root)
    )

    async def main() -> None:
        with open(root.parent / f"{root.name}.mcp-stderr.log", "w") as errlog:
            # The server's log goes to a file: pytest's captured stderr has no descriptor to hand on.
            async with Client(
                stdio_client(params, errlog=errlog), cache=None, read_timeout_seconds=60
            ) as client:
                await body(client)

    anyio.run(main)


def cli_json(cli: Any, *args: str) -> Any:
    result = cli(*args)
    return json.loads(result.stdout)


async def call(client: Client, name: str, arguments: dict[str, Any]) -> tuple[Any, bool, int | None]:
    result = await client.call_tool(name, arguments)
    meta = result.meta or {}
    return result.structured_content, result.is_error, meta.get("idse/exit_code")


def test_tools_answer_with_the_cli_json(ws, cli, tmp_path):
    expected_route = cli_json(cli, "route", "spec", "--json")
    expected_sessions = cli_json(cli, "sessions", "--json")
    expected_info = cli_json(cli, "session-info", "__blueprint__", "--json")

    async def body(client: Client) -> None:
        listed = await client.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        for tool in listed.tools:
            assert tool.input_schema["type"] == "object", tool.name
            assert tool.description, tool.name
        assert await call(client, "route", {"stage": "spec"}) == (expected_route, False, 0)
        assert await call(client, "sessions", {}) == (expected_sessions, False, 0)
        assert await call(client, "session_info", {"session": "__blueprint__"}) == (expected_info, False, 0)
        status, error, _ = await call(client, "status", {})
        assert not error and list(status["stages"]) == [
            "intent",
            "context",
            "spec",
            "plan",
            "tasks",
            "implementation",
            "feedback",
        ]

    with_server(tmp_path, body)
    assert cli_json(cli, "status", "--json")["stages"] == cli_json(cli, "status", "--json")["stages"]


def test_write_document_returns_that_documents_findings(ws, cli, tmp_path):
    spec = tmp_path / ".idse/projects/demo/sessions/__blueprint__/specs/spec.md"
    text = spec.read_text("utf-8").replace("## Overview", "## Overview\n\nStill [REQUIRES INPUT] here.", 1)

    async def body(client: Client) -> None:
        data, error, code = await call(client, "write_document", {"stage": "spec", "text": text})
        assert not error
        assert (
            data["written"] is True
            and data["path"] == ".idse/projects/demo/sessions/__blueprint__/specs/spec.md"
        )
        assert data["findings"] and {f["path"] for f in data["findings"]} == {data["path"]}
        assert "IDSE-A006" in {f["rule"] for f in data["findings"]}
        assert code in (0, 1)
        again, _, _ = await call(client, "write_document", {"stage": "spec", "text": text})
        assert again["written"] is False and again["findings"] == data["findings"]
        read, _, _ = await call(client, "read_document", {"stage": "spec"})
        assert read["text"] == text and read["exists"] is True
        built, error, code = await call(client, "build", {})
        assert not error and set(built) == {"tasks", "findings", "summary"}
        assert code == (1 if built["summary"]["errors"] else 0)
        assert any(f["rule"] == "IDSE-A006" for f in built["findings"])

    with_server(tmp_path, body)
    assert spec.read_text("utf-8") == text
    # The same workspace through the CLI: the findings the server returned are the build's own.
    assert cli("build").exit_code in (0, 1)
    listed = cli_json(cli, "validate", "--json")["findings"]
    assert any(f["rule"] == "IDSE-A006" and f["path"].endswith("specs/spec.md") for f in listed)


def test_bad_arguments_are_protocol_errors_and_the_server_stays_up(ws, tmp_path):
    async def body(client: Client) -> None:
        for name, arguments in [
            ("route", {"stage": "bogus"}),
            ("route", {}),
            ("route", {"stage": "spec", "surprise": 1}),
            ("validate", {"sessions": "not-a-list"}),
            ("no_such_tool", {}),
        ]:
            with pytest.raises(MCPError) as caught:
                await client.call_tool(name, arguments)
            assert caught.value.error.code == INVALID_PARAMS, (name, arguments)
        # An expected failure of the command itself: a tool error with the CLI's one line and exit code.
        data, error, _ = await call(client, "session_info", {"session": "nope"})
        assert error and data == {"error": "no session 'nope' in project 'demo'", "exit_code": 2}
        data, error, _ = await call(client, "read_document", {"stage": "spec", "session": "../x"})
        assert error and data["exit_code"] == 2
        # Still serving.
        data, error, _ = await call(client, "route", {"stage": "plan"})
        assert not error and data["stage"] == "plan"

    with_server(tmp_path, body)


def test_write_document_refuses_a_symlink_out_of_the_repository(ws, tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    session = tmp_path / ".idse/projects/demo/sessions/__blueprint__"
    (session / "plans/plan.md").unlink()
    (session / "plans").rmdir()
    (session / "plans").symlink_to(outside, target_is_directory=True)

    async def body(client: Client) -> None:
        data, error, _ = await call(client, "write_document", {"stage": "plan", "text": "# Plan\n"})
        assert error and data["exit_code"] == 2
        assert "outside the repository" in data["error"]

    with_server(tmp_path, body)
    assert list(outside.iterdir()) == []


def test_spawn_accept_explain_and_compile(ws, cli, tmp_path):
    explained: list[Any] = []

    async def body(client: Client) -> None:
        data, error, _ = await call(client, "spawn", {"session": "checkout"})
        assert (
            not error and data["session"]["id"] == "checkout" and data["session"]["parent"] == "__blueprint__"
        )
        data, error, _ = await call(client, "accept", {"stage": "spec", "session": "checkout"})
        assert error and data["exit_code"] == 2  # a pending stage cannot be accepted, as under the CLI
        data, error, _ = await call(client, "accept", {"all": True, "session": "checkout"})
        assert not error and data == {"session": "checkout", "accepted": {}}
        data, error, _ = await call(client, "explain", {"task": "validate:checkout/spec"})
        assert not error and data["task"] == "validate:checkout/spec"
        explained.append(data)
        data, error, _ = await call(client, "compile_agent_spec", {"dry_run": True, "session": "checkout"})
        # The template's profile is not filled in yet: the compiler's own one-line error, exit 1.
        assert error and data["exit_code"] == 1 and "Agent Profile" in data["error"]

    with_server(tmp_path, body)
    assert cli_json(cli, "sessions", "--json")["sessions"][-1]["id"] == "checkout"
    assert explained == [cli_json(cli, "build", "--explain", "validate:checkout/spec", "--json")]


def test_resources_are_the_documents_and_the_rule_set(ws, cli, tmp_path):
    rules = cli_json(cli, "rules", "--json")
    intent = (tmp_path / ".idse/projects/demo/sessions/__blueprint__/intents/intent.md").read_text("utf-8")

    async def body(client: Client) -> None:
        listed = await client.list_resources()
        uris = {str(r.uri) for r in listed.resources}
        stages = ("intent", "context", "spec", "plan", "tasks", "implementation", "feedback")
        assert {f"idse://demo/__blueprint__/{s}" for s in stages} | {"idse://rules"} <= uris
        read = await client.read_resource("idse://demo/__blueprint__/intent")
        assert read.contents[0].text == intent
        read = await client.read_resource("idse://rules")
        assert json.loads(read.contents[0].text) == rules
        templates = await client.list_resource_templates()
        assert [str(t.uri_template) for t in templates.resource_templates] == [
            "idse://{project}/{session}/{stage}"
        ]
        for bad in ("idse://demo/__blueprint__/bogus", "idse://demo/nope/spec", "idse://other/x/spec"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(bad)
            assert caught.value.error.code == INVALID_PARAMS

    with_server(tmp_path, body)


def test_without_the_sdk_the_error_names_the_extra(tmp_path):
    # The SDK is installed here, so its absence is simulated by blocking the import in the child.
    code = (
        "import sys\nsys.modules['mcp'] = None\nfrom idse_orchestrator.entry import main\nsys.exit(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "mcp"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "idse: error: idse mcp needs the MCP SDK: pip install 'idse-orchestrator[mcp]'"
    ]


def test_outside_a_workspace_is_a_one_line_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "idse_orchestrator", "mcp"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "not inside an idse workspace" in out.stderr
