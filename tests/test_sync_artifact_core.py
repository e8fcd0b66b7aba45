"""Two workspaces syncing through a real Artifact Core v1 HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifact_core_server import ArtifactCoreServer, sha256
from test_sync_support import (
    BLUEPRINT,
    PROJECT,
    Workspaces,
    artifact_core_workspaces,
    one_line_error,
    serve_artifact_core,
    sync_env,
)

TOKEN = "s3cr3t-T0KEN-4711-do-not-print"


@pytest.fixture
def server() -> Iterator[ArtifactCoreServer]:
    yield from serve_artifact_core(TOKEN)


@pytest.fixture
def wss(
    server: ArtifactCoreServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Workspaces:
    return artifact_core_workspaces(server, TOKEN, tmp_path, monkeypatch, capsys, "a", "b")


def test_round_trip_and_json_shapes(wss: Workspaces, server: ArtifactCoreServer) -> None:
    status = wss.run("a", "sync", "status", "--json")
    assert status.exit_code == 0
    data = json.loads(status.stdout)
    assert set(data) >= {"artifacts", "last_sync"}
    assert data["last_sync"] is None
    assert data["artifacts"][0] == {"session": BLUEPRINT, "stage": "intent", "state": "local-only"}

    assert wss.run("a", "sync", "push").exit_code == 0
    assert server.content(PROJECT, BLUEPRINT, "spec") == wss.read("a", "spec")
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("b", "context", "# Context from b\n")
    pushed = wss.run("b", "sync", "push", "--json")
    assert pushed.exit_code == 0
    report = json.loads(pushed.stdout)
    assert report["transferred"] == [{"session": BLUEPRINT, "stage": "context", "revision": "r8"}]
    assert wss.run("a", "sync", "pull").exit_code == 0
    assert wss.read("a", "context") == "# Context from b\n"
    assert set(wss.states("a").values()) == {"in-sync"}
    assert set(wss.states("b").values()) == {"in-sync"}
    # The lineage travels in the optional project state endpoint.
    assert server.states[PROJECT]["sessions"][BLUEPRINT]["stack"] == "python"


def test_remote_project_mapping(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDSE_SYNC_PROJECT", "shared-design")
    assert wss.run("a", "sync", "push").exit_code == 0
    assert server.content("shared-design", BLUEPRINT, "plan") == wss.read("a", "plan")
    assert PROJECT not in server.artifacts or not server.artifacts[PROJECT]


def test_concurrent_write_between_list_and_put_is_a_conflict(
    wss: Workspaces, server: ArtifactCoreServer
) -> None:
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("a", "plan", "# a's plan\n")

    def other_writer(project: str, session: str, stage: str) -> None:
        server.before_put = None
        server.put_raw(project, session, stage, "# written meanwhile\n")

    server.before_put = other_writer
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 1
    assert server.content(PROJECT, BLUEPRINT, "plan") == "# written meanwhile\n"
    assert wss.read("a", "plan") == "# a's plan\n"
    assert wss.doc("a", "plan").with_name("plan.remote.md").read_text() == "# written meanwhile\n"


def test_tampered_content_is_refused(wss: Workspaces, server: ArtifactCoreServer) -> None:
    server.put_raw(PROJECT, BLUEPRINT, "spec", "# remote\n")
    server.artifacts[PROJECT][(BLUEPRINT, "spec")]["content"] = "# tampered in transit\n"
    result = wss.run("b", "sync", "pull")
    assert result.exit_code == 1
    assert "does not match its sha256" in one_line_error(result)


def test_retries_hide_transient_faults(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One request at a time: each fault's retry is the request right after it.
    monkeypatch.setenv("IDSE_SYNC_CONCURRENCY", "1")
    server.fail(0, "500")  # the listing fails once, the retry (request 1) succeeds
    server.fail(2, "drop")  # the first PUT: connection dropped before it is applied
    server.fail(4, "drop-after")  # the second PUT lands but its answer is lost: the retry sees 409 + our sha
    result = wss.run("a", "sync", "push", "--json")
    assert result.exit_code == 0, result
    assert len(json.loads(result.stdout)["transferred"]) == 7
    assert set(wss.states("a").values()) == {"in-sync"}


def test_errors_are_one_line(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.fail(0, "500", times=2)
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 1
    assert "server error 500 after 2 attempt(s)" in one_line_error(result)

    server.fail(server.count, "echo-400")
    result = wss.run("a", "sync", "status")
    assert result.exit_code == 1 and "unexpected answer 400" in one_line_error(result)
    assert TOKEN not in result.output

    server.stop()
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 1 and "connection" in one_line_error(result)


def test_token_never_printed(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = []
    wss.write("a", "spec", "# a\n")
    for args in (
        ("sync", "config"),
        ("sync", "config", "--json"),
        ("sync", "init"),
        ("sync", "status", "--json"),
        ("sync", "push"),
        ("sync", "pull", "--json"),
        ("sync", "status"),
    ):
        outputs.append(wss.run("a", *args))
    wss.write("b", "spec", "# b\n")
    outputs.append(wss.run("b", "sync", "push"))
    outputs.append(wss.run("b", "sync", "resolve", BLUEPRINT, "spec", "--theirs", "--yes"))
    assert "***" in outputs[0].stdout
    monkeypatch.setenv("IDSE_SYNC_TOKEN", "wrong-" + TOKEN)
    denied = wss.run("a", "sync", "push")
    assert denied.exit_code == 1 and "authentication failed (401)" in one_line_error(denied)
    outputs.append(denied)
    monkeypatch.setenv("IDSE_SYNC_URL", "http://192.0.2.1:9")  # plain http to a remote host
    refused = wss.run("a", "sync", "status")
    assert refused.exit_code == 2 and "plain http" in refused.stderr
    outputs.append(refused)
    for result in outputs:
        assert TOKEN not in result.output
    assert all(r.exit_code in (0, 1, 2) for r in outputs)


def test_invalid_server_answers(wss: Workspaces, server: ArtifactCoreServer) -> None:
    server.put_raw(PROJECT, BLUEPRINT, "spec", "x")
    server.artifacts[PROJECT][(BLUEPRINT, "spec")]["sha256"] = "not-a-hash"
    result = wss.run("a", "sync", "status")
    assert result.exit_code == 1 and "invalid response" in one_line_error(result)
    server.artifacts[PROJECT][(BLUEPRINT, "spec")]["sha256"] = sha256("x")
    assert wss.run("a", "sync", "status").exit_code == 1  # conflict: never synced, content differs


def test_openapi_description_matches_the_protocol_in_use() -> None:
    import yaml

    spec = yaml.safe_load((Path(__file__).parents[1] / "docs/artifact-core-openapi.yaml").read_text())
    paths = spec["paths"]
    assert set(paths) == {
        "/v1/projects/{project}/artifacts",
        "/v1/projects/{project}/sessions/{session}/artifacts/{stage}",
        "/v1/projects/{project}/state",
    }
    one = paths["/v1/projects/{project}/sessions/{session}/artifacts/{stage}"]
    assert set(one["put"]["responses"]) >= {"200", "409", "401", "403"}
    schemas = spec["components"]["schemas"]
    assert schemas["WriteRequest"]["required"] == ["content", "sha256", "base_revision"]
    assert schemas["Stage"]["enum"] == [
        "intent",
        "context",
        "spec",
        "plan",
        "tasks",
        "implementation",
        "feedback",
    ]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_push_of_an_unknown_session_is_refused(wss: Workspaces, server: ArtifactCoreServer) -> None:
    result = wss.run("a", "sync", "push", "--session", "nope")
    assert result.exit_code == 2 and "no session 'nope'" in one_line_error(result)
    assert server.count == 0


def test_tls_certificates_are_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    srv = ArtifactCoreServer(token=TOKEN, tls=(cert, key)).start()
    try:
        sync_env(monkeypatch, IDSE_SYNC_URL=srv.url, IDSE_SYNC_TOKEN=TOKEN)
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        w = Workspaces(tmp_path, monkeypatch, capsys)
        w.make("a")
        untrusted = w.run("a", "sync", "push")
        assert untrusted.exit_code == 1 and "TLS verification failed" in one_line_error(untrusted)
        assert srv.log == []  # no request reached the server: the token was never sent
        monkeypatch.setenv("IDSE_SYNC_CA_BUNDLE", "../cert.pem")  # relative to the workspace root
        trusted = w.run("a", "sync", "push")
        assert trusted.exit_code == 0, trusted
        assert srv.content(PROJECT, BLUEPRINT, "spec") == w.read("a", "spec")
    finally:
        srv.stop()


@pytest.mark.parametrize("position", [0, 1, 3])
def test_a_reply_nested_past_any_sane_depth_is_a_remote_error(
    wss: Workspaces, server: ArtifactCoreServer, position: int
) -> None:
    server.fail(position, "deep-json")
    for args in (("sync", "status"), ("sync", "push")):
        result = wss.run("a", *args)
        assert result.exit_code in (0, 1, 2), result
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        server.fail(server.count, "deep-json")


def test_429_waits_as_long_as_retry_after_says(
    wss: Workspaces, server: ArtifactCoreServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idse_orchestrator.sync.backends import http

    # The waits are recorded instead of slept: what is checked is how long the client would wait.
    waits: list[float] = []
    monkeypatch.setattr(http.time, "sleep", waits.append)
    monkeypatch.setenv("IDSE_SYNC_BACKOFF", "0.1")
    server.retry_after = "7"
    server.fail(0, "429")
    assert wss.run("a", "sync", "status").exit_code == 0
    assert waits == [7.0]
    server.retry_after = "86400"  # a day: capped at a minute
    server.fail(server.count, "429")
    assert wss.run("a", "sync", "status").exit_code == 0
    assert waits[-1] == http.MAX_RETRY_AFTER
    server.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: no wait is asked for
    server.fail(server.count, "429", times=http.RATE_LIMIT_WAITS + 1)
    denied = wss.run("a", "sync", "status")
    line = one_line_error(denied)
    assert denied.exit_code == 1 and f"still rate limited (429) after {http.RATE_LIMIT_WAITS} waits" in line


def test_retry_after_forms() -> None:
    import email.utils
    import time

    from idse_orchestrator.sync.backends.http import MAX_RETRY_AFTER, retry_after

    assert retry_after(None) is None and retry_after("") is None and retry_after("soon") is None
    assert retry_after("3") == 3.0
    assert retry_after("86400") == MAX_RETRY_AFTER
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20 < (retry_after(later) or 0) <= 30
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
