"""`idse mcp`: the SDK's own client talks to a real `idse mcp` subprocess over stdio.

Each test starts the server the way an editor does (a child process speaking JSON-RPC on its stdin
and stdout, started in the repository) and checks what a caller relies on: the tools and their
JSON, a written document's findings, resources, and that bad input is an error, never a crash.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is the 'mcp' extra: pip install 'idse-orchestrator[mcp]'")

import anyio  # noqa: E402
from mcp import Client, StdioServerParameters, stdio_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

from idse_orchestrator.mcp.server import IdseServer  # noqa: E402

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


def with_server(
    root: Path, body: Callable[[Client], Awaitable[None]], *, stdio: bool = False, mode: str = "auto"
) -> None:
    """Run ``body`` against a server for the workspace at ``root``: a real `idse mcp` child process
    over stdio, or (``stdio=False``) the same server object connected in-process by the SDK's client,
    which exercises the same handlers without a process start."""

    async def main() -> None:
        if not stdio:
            async with Client(IdseServer(root).server(), cache=None) as client:
                await body(client)
            return
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "idse_orchestrator", "mcp"], cwd=str(root)
        )
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


# "legacy" is the initialize handshake that editors speak today; "auto" probes the newer discovery first.
@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_over_stdio_tools_are_listed_and_route_answers(ws, cli, tmp_path, mode):
    expected = cli_json(cli, "route", "spec", "--json")

    async def body(client: Client) -> None:
        listed = await client.list_tools()
        assert {t.name for t in listed.tools} == TOOLS
        assert await call(client, "route", {"stage": "spec"}) == (expected, False, 0)

    with_server(tmp_path, body, stdio=True, mode=mode)


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

    with_server(tmp_path, body, stdio=True)
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

    with_server(tmp_path, body, stdio=True, mode="legacy")


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
        data, error, _ = await call(client, "explain", {"task": "validate:checkout"})
        assert not error and data["task"] == "validate:checkout"
        explained.append(data)
        data, error, _ = await call(client, "compile_agent_spec", {"dry_run": True, "session": "checkout"})
        # The template's profile is not filled in yet: the compiler's own one-line error, exit 1.
        assert error and data["exit_code"] == 1 and "Agent Profile" in data["error"]

    with_server(tmp_path, body)
    assert cli_json(cli, "sessions", "--json")["sessions"][-1]["id"] == "checkout"
    assert explained == [cli_json(cli, "build", "--explain", "validate:checkout", "--json")]


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


def validated_after(cli: Any) -> list[Any]:
    return list(json.loads(cli("validate", "--json").stdout)["findings"])


def test_more_tools_answer_like_the_cli(ws, cli, tmp_path):
    results: dict[str, Any] = {}

    async def body(client: Client) -> None:
        for name, arguments in [
            ("status", {}),
            ("validate", {}),
            ("validate_all", {"all": True, "strict": True, "rules": ["IDSE-A005"]}),
            ("build", {"force": True}),
            ("read_missing", {"stage": "feedback"}),
            ("compile_all", {"all": True}),
        ]:
            tool = name.split("_")[0]
            tool = {
                "read_missing": "read_document",
                "compile_all": "compile_agent_spec",
                "write_feedback": "write_document",
            }.get(name, tool)
            results[name] = await call(client, tool, arguments)

    (tmp_path / ".idse/projects/demo/sessions/__blueprint__/feedback/feedback.md").unlink()
    with_server(tmp_path, body)
    assert results["status"] == (cli_json(cli, "status", "--json"), False, 0)
    validated = cli("validate", "--json")
    assert validated.exit_code == 1  # the missing feedback document is an error
    assert results["validate"] == (json.loads(validated.stdout), False, 1)
    strict = cli("validate", "--all", "--strict", "--rule", "IDSE-A005", "--json")
    assert results["validate_all"][0] == json.loads(strict.stdout)
    assert results["validate_all"][2] == strict.exit_code
    built, error, code = results["build"]
    assert not error and code == 1 and built["summary"]["ran"] == built["summary"]["tasks"]
    assert built["findings"] == json.loads(cli("build", "--json").stdout)["findings"]
    missing, error, _ = results["read_missing"]
    assert not error and missing["exists"] is False and missing["text"] is None
    compiled, error, code = results["compile_all"]
    assert not error and code == 1 and compiled["compiled"] == []
    assert len(compiled["failures"]) == 1 and "Agent Profile" in compiled["failures"][0]

    async def write(client: Client) -> None:
        text = "# Feedback: __blueprint__\n\nNone yet.\n"
        results["write_feedback"] = await call(client, "write_document", {"stage": "feedback", "text": text})

    with_server(tmp_path, write)
    written, error, code = results["write_feedback"]
    assert not error and written["written"] is True and written["findings"]
    assert code == (1 if any(f["severity"] == "error" for f in written["findings"]) else 0)
    assert written["findings"] == [f for f in validated_after(cli) if f["path"] == written["path"]]


def test_usage_errors_of_the_commands_are_tool_errors(ws, tmp_path):
    cases = [
        ("validate", {"sessions": ["__blueprint__"], "all": True}),
        ("accept", {}),
        ("accept", {"stage": "spec", "all": True}),
        ("compile_agent_spec", {"all": True, "session": "__blueprint__"}),
        ("write_document", {"stage": "spec", "text": "nul \x00 byte"}),
        ("write_document", {"stage": "spec", "text": "x" * (5 * 1024 * 1024 + 1)}),
        ("status", {"project": "other"}),
        ("spawn", {"session": "../escape"}),
        ("explain", {"task": "no-such-task"}),
    ]
    answers: list[Any] = []

    async def body(client: Client) -> None:
        for name, arguments in cases:
            answers.append(await call(client, name, arguments))

    with_server(tmp_path, body)
    for (name, arguments), (data, error, _) in zip(cases, answers, strict=True):
        assert error and data["exit_code"] == 2, (name, arguments, data)
        assert "\n" not in data["error"] and data["error"], data


def test_resources_reject_what_is_not_a_document(ws, tmp_path):
    async def body(client: Client) -> None:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("route", {"stage": "bogus"})
        assert caught.value.error.code == INVALID_PARAMS
        with pytest.raises(MCPError) as caught:
            await client.call_tool("nope", {})
        assert caught.value.error.code == INVALID_PARAMS
        for bad in ("file:///etc/passwd", "idse://demo/__blueprint__", "idse://demo/a/b/c"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(bad)
            assert caught.value.error.code == INVALID_PARAMS, bad

    with_server(tmp_path, body)


def test_without_the_sdk_the_error_names_the_extra(cli, tmp_path, monkeypatch):
    # The SDK is installed here, so its absence is simulated by blocking the import (as Python does
    # for a module that is not installed).
    monkeypatch.setitem(sys.modules, "mcp", None)
    result = cli("mcp")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "idse: error: idse mcp needs the MCP SDK: pip install 'idse-orchestrator[mcp]'"
    ]


def test_outside_a_workspace_is_a_one_line_error(cli, tmp_path):
    result = cli("mcp", "--root", str(tmp_path))
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "not inside an idse workspace" in result.stderr


NOISY_SERVER = """
import os, sys
from pathlib import Path
from idse_orchestrator.mcp import tools
from idse_orchestrator.mcp.server import serve

route = tools.BY_NAME["route"]

def noisy(ws, args):
    print("stray print")
    sys.stdout.flush()
    os.write(1, b"stray write to fd 1\\n")
    return route.run(ws, args)

tools.BY_NAME["route"] = tools.ToolSpec("route", route.description, route.args, noisy)
sys.exit(serve(Path.cwd()))
"""


def test_stray_output_goes_to_stderr_never_into_the_protocol(ws, tmp_path):
    """A tool that prints (as a careless library might), in a real stdio server: the reply is intact
    and the stray text is on stderr."""
    params = StdioServerParameters(command=sys.executable, args=["-c", NOISY_SERVER], cwd=str(tmp_path))
    log = tmp_path.parent / "noisy.log"

    async def main() -> None:
        with open(log, "w") as errlog:
            async with Client(
                stdio_client(params, errlog=errlog), cache=None, read_timeout_seconds=60
            ) as client:
                for _ in range(2):
                    data, error, _ = await call(client, "route", {"stage": "spec"})
                    assert not error and data["agent"] == "claude-code"

    anyio.run(main)
    stderr = log.read_text()
    assert stderr.count("stray print") == 2 and stderr.count("stray write to fd 1") == 2


def test_a_bug_in_a_tool_is_a_tool_error_and_the_server_goes_on(ws, tmp_path, monkeypatch):
    from idse_orchestrator.mcp import tools

    def broken(_ws: Any, _args: Any) -> Any:
        raise RuntimeError("boom")

    spec = tools.BY_NAME["sessions"]
    monkeypatch.setitem(
        tools.BY_NAME, "sessions", tools.ToolSpec("sessions", spec.description, spec.args, broken)
    )

    async def body(client: Client) -> None:
        data, error, _ = await call(client, "sessions", {})
        assert error and data == {"error": "internal error: RuntimeError: boom", "exit_code": 3}
        data, error, _ = await call(client, "route", {"stage": "spec"})
        assert not error

    with_server(tmp_path, body)


@pytest.mark.slow
def test_a_read_only_workspace_reads_and_refuses_writes(tmp_path_factory):
    """The server run as an unprivileged user on a chmod a-w repository (root could write anything)."""
    import os
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="idse-mcp-ro-"))
    os.chmod(base, 0o755)
    root = base / "repo"
    root.mkdir()
    code = "import sys; from idse_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"
    import subprocess

    subprocess.run([sys.executable, "-c", code, "init", "demo"], cwd=root, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", code, "build"], cwd=root, check=True, capture_output=True)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    server = [*nobody, sys.executable, "-m", "idse_orchestrator", "mcp"]
    probe = subprocess.run(
        [*nobody, sys.executable, "-c", "import mcp, idse_orchestrator"], capture_output=True, text=True
    )
    try:
        if probe.returncode != 0 or (os.geteuid() != 0 and os.access(root, os.W_OK)):
            pytest.skip(
                f"cannot run as an unprivileged user on a read-only folder here: {probe.stderr[:200]}"
            )
        params = StdioServerParameters(
            command=server[0], args=server[1:], cwd=str(root), env={"HOME": str(root)}
        )
        spec = root / ".idse/projects/demo/sessions/__blueprint__/specs/spec.md"
        before = spec.read_text("utf-8")

        async def main() -> None:
            with open(base / "stderr.log", "w") as errlog:
                async with Client(
                    stdio_client(params, errlog=errlog), cache=None, read_timeout_seconds=60
                ) as client:
                    data, error, _ = await call(client, "route", {"stage": "spec"})
                    assert not error and data["agent"] == "claude-code"
                    data, error, _ = await call(client, "validate", {})
                    assert not error
                    data, error, _ = await call(
                        client, "write_document", {"stage": "spec", "text": "# Spec\n"}
                    )
                    assert error and data["exit_code"] == 2 and "read-only" in data["error"], data

        anyio.run(main)
        assert spec.read_text("utf-8") == before
    finally:
        for path in [base, *base.rglob("*")]:
            if not path.is_symlink():
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base, ignore_errors=True)
