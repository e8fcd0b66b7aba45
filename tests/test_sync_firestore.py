"""Two workspaces syncing through the official Cloud Firestore emulator (REST API v1).

The emulator is Google's own Java emulator (Debian package ``google-cloud-cli-firestore-emulator``);
the tests skip when it is not installed. Faults are injected by a loopback proxy in front of it
(``firestore_server``); the proxy also stands in for the real service's token endpoint to test
the service-account path, since Google's servers cannot be reached from here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from firestore_server import Emulator, FirestoreRemote, find_emulator, firestore_remote
from test_sync_support import BLUEPRINT, PROJECT, Workspaces, one_line_error, sync_env

TRICKY = (
    "# Spec\r\n\r\ntrailing spaces   \r\n"
    "```python\nprint('fence')  \n```\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n"
    "<!-- an HTML comment -->\n"
    "unicode: é 漢字 🧪 \u200b and a tab\there\n"
    "no newline at the end   "
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    launcher = find_emulator()
    if launcher is None:
        pytest.skip(
            "the Cloud Firestore emulator (google-cloud-cli-firestore-emulator) and java are not installed"
        )
    emu = Emulator(launcher)
    yield emu
    emu.stop()


@pytest.fixture
def remote(emulator: Emulator) -> Iterator[FirestoreRemote]:
    made = firestore_remote(emulator)
    yield made
    made.stop()


@pytest.fixture
def wss(
    remote: FirestoreRemote,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Workspaces:
    sync_env(monkeypatch, **remote.env)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    w.make("b")
    return w


def test_round_trip_is_byte_exact(wss: Workspaces, remote: FirestoreRemote) -> None:
    big = "".join(f"line {i:06d} · ünïcödé 🧪 with trailing space \n" for i in range(4_000))  # ~200 KB
    huge = "# chunked\n" + "x" * 1_000_000 + "é" * 400_000 + "\n"  # over 1 MiB: stored in chunk documents
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("a", "spec", TRICKY)
    wss.write("a", "plan", big)
    wss.write("a", "tasks", huge)
    assert len(big.encode()) > 200_000
    pushed = wss.run("a", "sync", "push", "--json")
    assert pushed.exit_code == 0, pushed
    assert remote.content(PROJECT, BLUEPRINT, "spec") == TRICKY
    assert remote.content(PROJECT, BLUEPRINT, "tasks") == huge
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.documents("b") == wss.documents("a")
    assert wss.doc("b", "spec").read_bytes() == TRICKY.encode("utf-8")
    # A large document replaced by a small one and back: each version is read whole.
    wss.write("a", "tasks", "small now\n")
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("a", "tasks", huge[::-1])
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.read("b", "tasks") == huge[::-1]
    assert set(wss.states("b").values()) == {"in-sync"}


def test_every_status_state(
    wss: Workspaces, remote: FirestoreRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idse_orchestrator.sync.backends import firestore

    monkeypatch.setattr(firestore, "LIST_PAGE", 2)  # listings cross nextPageToken pages
    assert set(wss.states("a").values()) == {"local-only"}
    assert wss.run("a", "sync", "push").exit_code == 0
    assert set(wss.states("a").values()) == {"in-sync"}
    assert wss.run("b", "sync", "pull").exit_code == 0  # b had the same template docs: recorded in sync
    wss.write("a", "spec", "# a spec\n")
    remote.put(PROJECT, BLUEPRINT, "plan", "# plan from elsewhere\n")
    remote.put(PROJECT, "s-remote", "intent", "# only remote\n")
    wss.write("a", "context", "# a context\n")
    remote.put(PROJECT, BLUEPRINT, "context", "# remote context\n")
    states = wss.states("a")
    assert states[f"{BLUEPRINT}/spec"] == "local-ahead"
    assert states[f"{BLUEPRINT}/plan"] == "remote-ahead"
    assert states[f"{BLUEPRINT}/context"] == "conflict"
    assert states["s-remote/intent"] == "remote-only"
    assert states[f"{BLUEPRINT}/intent"] == "in-sync"
    assert any("pageToken=" in e[1] for e in remote.proxy.log)


def test_the_server_refuses_a_write_from_a_stale_base(wss: Workspaces, remote: FirestoreRemote) -> None:
    """Another client writes between our listing and our write: the updateTime precondition fails
    on the server, and the push reports a conflict instead of overwriting."""
    assert wss.run("a", "sync", "push").exit_code == 0
    wss.write("a", "plan", "# a's plan\n")

    def other_writer(method: str, path: str) -> None:
        if ":batchWrite" in path:
            remote.proxy.before = None
            remote.put(PROJECT, BLUEPRINT, "plan", "# written meanwhile\n")

    remote.proxy.before = other_writer
    result = wss.run("a", "sync", "push")
    assert result.exit_code == 1
    assert remote.content(PROJECT, BLUEPRINT, "plan") == "# written meanwhile\n"
    assert wss.read("a", "plan") == "# a's plan\n"
    assert wss.doc("a", "plan").with_name("plan.remote.md").read_text() == "# written meanwhile\n"


@pytest.mark.parametrize("kind", ["429", "500", "timeout", "drop-after"])
def test_a_fault_at_every_request_of_a_push_is_retried(
    wss: Workspaces, remote: FirestoreRemote, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("IDSE_SYNC_TIMEOUT", "2")
    remote.proxy.delay = 3.0
    assert wss.run("a", "sync", "push").exit_code == 0
    assert wss.run("b", "sync", "pull").exit_code == 0
    wss.write("a", "spec", "# measured\n")
    wss.write("a", "plan", "# measured\n")
    start = remote.proxy.count
    assert wss.run("a", "sync", "push").exit_code == 0
    requests_per_push = remote.proxy.count - start
    assert requests_per_push == 3  # list, batchWrite, project state (read; unchanged, so not written)
    for position in range(requests_per_push):
        wss.write("a", "spec", f"# version {kind} {position}\n")
        wss.write("a", "plan", f"# plan {kind} {position}\n")
        remote.proxy.fail(remote.proxy.count + position, kind)
        result = wss.run("a", "sync", "push", "--json")
        assert result.exit_code == 0, (position, result)
        assert {t["stage"] for t in json.loads(result.stdout)["transferred"]} == {"spec", "plan"}
        assert remote.content(PROJECT, BLUEPRINT, "spec") == f"# version {kind} {position}\n"
        assert set(wss.states("a").values()) == {"in-sync"}
    assert wss.run("b", "sync", "pull").exit_code == 0
    assert wss.documents("b") == wss.documents("a")


def test_retry_after_is_honoured(wss: Workspaces, remote: FirestoreRemote) -> None:
    remote.proxy.retry_after = 1
    remote.proxy.fail(remote.proxy.count, "429")
    assert wss.run("a", "sync", "status").exit_code == 0
    (first, second) = remote.proxy.log[:2]
    assert first[2] == 429 and second[2] == 200
    assert second[3] - first[3] >= 0.9  # waited at least what Retry-After asked


def test_hostile_names_from_the_remote_write_nothing_outside(
    wss: Workspaces, remote: FirestoreRemote, tmp_path: Path
) -> None:
    sha = "0" * 64
    hostile = [("../evil", "spec"), ("a/b", "spec"), (".hidden", "spec"), (BLUEPRINT, "../../x")]
    for i, (session, stage) in enumerate(hostile):
        remote.put_raw(
            PROJECT, f"h{i}", {"session": session, "stage": stage, "sha256": sha, "content": "pwned\n"}
        )
    # A document whose name does not match its fields is refused too.
    remote.put_raw(PROJECT, "other.spec", {"session": "good", "stage": "spec", "sha256": sha, "content": "x"})
    remote.put(PROJECT, "good-session", "intent", "# fine\n")
    before = set(tmp_path.rglob("*"))
    result = wss.run("b", "sync", "pull", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {(r["session"], r["stage"]) for r in report["rejected"]} == {*hostile, ("good", "spec")}
    assert [(t["session"], t["stage"]) for t in report["transferred"]] == [("good-session", "intent")]
    created = set(tmp_path.rglob("*")) - before
    project = wss.path("b") / ".idse/projects/demo"
    assert all(p.is_relative_to(project) for p in created), created
    assert not any("pwned" in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_tampered_content_is_refused(wss: Workspaces, remote: FirestoreRemote) -> None:
    remote.put_raw(
        PROJECT,
        f"{BLUEPRINT}.spec",
        {"session": BLUEPRINT, "stage": "spec", "sha256": "1" * 64, "content": "# tampered\n"},
    )
    result = wss.run("b", "sync", "pull")
    assert result.exit_code == 1 and "does not match its sha256" in one_line_error(result)


def _service_account(tmp_path: Path, token_uri: str) -> tuple[Path, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "ignored-when-configured",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "idse@example.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info))
    return path, pem


def test_service_account_credentials_and_secrets_never_printed(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real-service path: google-auth signs a JWT with the key, the token endpoint (the proxy
    standing in for Google's) answers an access token, and every request carries it."""
    token = "ya29.s3cr3t-access-token-do-not-print"
    remote = firestore_remote(emulator, token=token)
    try:
        key_file, pem = _service_account(tmp_path, remote.proxy.url + "/token")
        sync_env(monkeypatch, **remote.env, GOOGLE_APPLICATION_CREDENTIALS=str(key_file))
        monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
        w = Workspaces(tmp_path, monkeypatch, capsys)
        w.make("a")
        w.write("a", "spec", "# over the real path\n")
        outputs = [
            w.run("a", "sync", *args) for args in (("config",), ("init",), ("push", "--json"), ("status",))
        ]
        assert [r.exit_code for r in outputs] == [0, 0, 0, 0], outputs
        assert remote.content(PROJECT, BLUEPRINT, "spec") == "# over the real path\n"
        assert remote.proxy.tokens_issued >= 1
        remote.proxy.fail(remote.proxy.count, "echo-400")  # a server error text repeating our token
        echoed = w.run("a", "sync", "status")
        assert echoed.exit_code == 1 and "cannot parse request with Bearer ***" in one_line_error(echoed)
        outputs.append(echoed)
        remote.proxy.deny = True  # the service account is revoked: final, one line
        denied = w.run("a", "sync", "status")
        assert denied.exit_code == 1 and "authentication failed (401)" in one_line_error(denied)
        outputs.append(denied)
        monkeypatch.setenv("IDSE_SYNC_URL", "http://192.0.2.1:9")
        refused = w.run("a", "sync", "status")
        assert refused.exit_code == 2 and "plain http" in one_line_error(refused)
        outputs.append(refused)
        for result in outputs:
            assert token not in result.output
            assert pem.splitlines()[1] not in result.output
    finally:
        remote.stop()


def test_missing_google_auth_names_the_extra(
    wss: Workspaces, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-auth is installed here; its absence is simulated by hiding the module from import.
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "key.json"))
    monkeypatch.setitem(sys.modules, "google.oauth2", None)
    result = wss.run("a", "sync", "status")
    assert result.exit_code == 2
    assert "pip install 'idse-orchestrator[firestore]'" in one_line_error(result)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "GOOGLE_APPLICATION_CREDENTIALS"),
        ({"FIRESTORE_EMULATOR_HOST": "not a host"}, "expected host:port"),
        ({"FIRESTORE_EMULATOR_HOST": "127.0.0.1:9", "IDSE_SYNC_GCP_PROJECT": ""}, "Google Cloud project"),
        ({"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"}, "not a readable service-account key"),
        (
            {"FIRESTORE_EMULATOR_HOST": "127.0.0.1:9", "IDSE_SYNC_DATABASE": "Bad_DB"},
            "not a Firestore database id",
        ),
    ],
)
def test_configuration_errors_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    expected: str,
) -> None:
    """Checked before any request: no emulator needed."""
    for name in ("FIRESTORE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    values = {"IDSE_SYNC_BACKEND": "firestore", "IDSE_SYNC_GCP_PROJECT": "demo-project", **env}
    sync_env(monkeypatch, **{k: v for k, v in values.items() if v})
    w = Workspaces(tmp_path, monkeypatch, capsys)
    w.make("a")
    result = w.run("a", "sync", "status")
    assert result.exit_code == 2 and expected in one_line_error(result)
