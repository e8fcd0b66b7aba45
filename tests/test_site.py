"""`idse site`: the static HTML dashboard, checked as files and in a real headless browser.

The browser tests need Chromium (`.ci/run` installs Debian's `chromium`); without it they are skipped
with the reason. Screenshots go to ``tmp_path`` (or to ``IDSE_SCREENSHOT_DIR`` when set, to look at).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from idse_orchestrator.stages import BY_NAME, STAGE_NAMES

PROJECT = "demo"
BLUEPRINT = "__blueprint__"
PROJ = f".idse/projects/{PROJECT}"


def doc(root: Path, session: str, stage: str) -> Path:
    return root / PROJ / "sessions" / session / BY_NAME[stage].relpath


def fill(path: Path) -> None:
    path.write_text(path.read_text("utf-8").replace("[REQUIRES INPUT]", "Answered."), "utf-8")


class Page(HTMLParser):
    """Ids, links, scripts and external references of an HTML page, and the text of each table row."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.external: list[str] = []
        self.rows: dict[str, list[dict[str, str]]] = {}
        self._table: list[str] = []
        self._row: dict[str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            value = a.get(key, "")
            if value.startswith(("http:", "https:", "//")):
                self.external.append(value)
        if tag == "link" or (tag == "script" and "src" in a):
            self.external.append(f"<{tag}> {a}")
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "table":
            self._table.append(a.get("id", ""))
        if tag == "tr":
            self._row = {"class": a.get("class", ""), "text": "", "flags": a.get("data-flags", "")}
        if tag == "td" and self._row is not None:
            self._row["text"] += f"[{a.get('class', '')}]"

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table:
            self._table.pop()
        if tag == "tr" and self._row is not None and self._table:
            self.rows.setdefault(self._table[-1], []).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._row["text"] += data


@pytest.fixture
def project(ws, cli, tmp_path):
    """blueprint filled; `checkout` spawned and filled up to tasks; `feat` filled, then its spec edited
    (its later stages stale); `payments` (current) with a missing required section (an error)."""
    for stage in STAGE_NAMES:
        fill(doc(tmp_path, BLUEPRINT, stage))
    for sid in ("checkout", "feat", "payments"):
        assert cli("spawn", sid).exit_code == 0
    for stage in STAGE_NAMES[:5]:
        fill(doc(tmp_path, "checkout", stage))
    for stage in STAGE_NAMES:
        fill(doc(tmp_path, "feat", stage))
    assert cli("build").exit_code == 0
    spec = doc(tmp_path, "feat", "spec")
    spec.write_text(spec.read_text() + "\nA late change.\n")
    spec = doc(tmp_path, "payments", "spec")
    spec.write_text(
        spec.read_text().replace("## Acceptance Criteria", "## Criteria, maybe") + "\n<script>x</script>\n"
    )
    return tmp_path


def site(cli, out: Path, *args: str) -> dict:
    result = cli("site", "-o", str(out), "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_the_site_shows_the_matrix_sessions_and_findings(project, cli, tmp_path):
    out = tmp_path / "site"
    report = site(cli, out)
    assert sorted(report["written"]) == ["index.html"] + [
        f"sessions/{s}.html" for s in sorted([BLUEPRINT, "checkout", "feat", "payments"])
    ]
    index = Page((out / "index.html").read_text("utf-8"))
    rows = index.rows["matrix"]
    assert len(rows) == 1 + 4  # header and one row per session
    assert [h for h in STAGE_NAMES if h in rows[0]["text"]] == list(STAGE_NAMES)
    feat = next(r for r in rows if "feat" in r["text"] and "stale" in r["flags"])
    assert feat["text"].count("[st stale]") == 4 and feat["text"].count("[st complete]") == 3
    payments = next(r for r in rows if "payments" in r["text"])
    assert "errors" in payments["flags"] and "1 error" in payments["text"]
    assert {f"sessions/{s}.html" for s in ("feat", "payments", BLUEPRINT)} <= set(index.links)
    assert "Lineage" in (out / "index.html").read_text() and "<svg" in (out / "index.html").read_text()

    page_text = (out / "sessions/payments.html").read_text("utf-8")
    page = Page(page_text)
    findings = [r for r in page.rows["findings"] if "finding" in r["class"]]
    a003 = next(r for r in findings if "IDSE-A003" in r["text"])
    assert "Acceptance Criteria" in a003["text"]
    # Each finding on a line links to that line of the document shown on the page.
    anchors = [link[1:] for link in page.links if re.fullmatch(r"#spec-L\d+", link)]
    assert anchors and all(a in page.ids for a in anchors)
    assert "&lt;script&gt;x&lt;/script&gt;" in page_text and "<script>x</script>" not in page_text
    assert "../index.html" in page.links and "__blueprint__.html" in page.links
    assert "<svg" in page_text, "the session's task graph is inline"

    feat_page = (out / "sessions/feat.html").read_text("utf-8")
    assert "spec changed since plan was last accepted" in feat_page

    for name in ["index.html", *(f"sessions/{p.name}" for p in (out / "sessions").iterdir())]:
        assert Page((out / name).read_text("utf-8")).external == [], f"{name} loads nothing from outside"
    assert not re.search(r"\d{4}-\d\d-\d\d", (out / "index.html").read_text()), "no timestamps"


def test_only_changed_pages_are_rewritten(project, cli, tmp_path):
    out = tmp_path / "site"
    site(cli, out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.html")}
    again = site(cli, out)
    assert again["written"] == [] and again["unchanged"] == 5
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.html")} == stamps

    tasks = doc(project, "checkout", "tasks")
    tasks.write_text(tasks.read_text().replace("- [ ] Answered. Task 1", "- Task 1"))
    changed = site(cli, out)
    # The overview counts the new error; checkout's page shows it; the other sessions' pages stay.
    assert sorted(changed["written"]) == ["index.html", "sessions/checkout.html"]

    shutil.rmtree(project / PROJ / "sessions" / "checkout")
    gone = site(cli, out)
    assert gone["removed"] == ["sessions/checkout.html"]
    assert not (out / "sessions/checkout.html").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_graphviz_drawings_are_cached_by_content(project, cli, tmp_path):
    out = tmp_path / "site"
    site(cli, out)
    cache = project / ".idse/.cache/svg"
    drawn = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.svg")}
    assert drawn, "Graphviz output is kept in the cache"
    assert "<svg" in (out / "sessions/feat.html").read_text()
    assert site(cli, out)["written"] == []
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.svg")} == drawn, "nothing redrawn"
    # A drawing no page uses any more is dropped.
    (cache / "0123456789abcdef0123456789abcdef.svg").write_text("<svg/>")
    site(cli, out)
    assert set(p.name for p in cache.glob("*.svg")) == set(drawn)


def test_the_default_folder_and_the_layout_without_graphviz(project, cli, tmp_path):
    result = cli("site", "--no-dot")
    assert result.exit_code == 0, result.stderr
    out = project / PROJ / "build/site"
    assert str(out / "index.html") in result.stdout
    text = (out / "sessions/feat.html").read_text()
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert "<rect" in svg and ">validate<" in svg and "marker-end" in svg
    # Documents are coloured by their stage's status (feat's stages after its spec are stale).
    from idse_orchestrator.views.svg import STYLE

    def fill(node_id: str) -> str:
        found = re.search(rf'<title>{re.escape(node_id)}</title><rect [^>]*fill="([^"]+)"', svg)
        assert found is not None, node_id
        return found.group(1)

    feat_doc = f"{PROJ}/sessions/feat/{{}}"
    assert fill(feat_doc.format(BY_NAME["spec"].relpath)) == STYLE["complete"][0]
    assert fill(feat_doc.format(BY_NAME["plan"].relpath)) == STYLE["stale"][0]
    assert fill("validate:feat") == STYLE["task"][0]


def test_site_outside_a_workspace_is_a_usage_error(cli, tmp_path):
    result = cli("site")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ browser


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


needs_chromium = pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (Debian: chromium)")


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    assert exe is not None
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("IDSE_SCREENSHOT_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@needs_chromium
def test_a_browser_renders_the_matrix_and_a_finding(project, cli, tmp_path):
    out = tmp_path / "site"
    site(cli, out)
    profile = tmp_path / "profile"
    dom = browse((out / "index.html").as_uri(), profile, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-500:]
    page = Page(dom.stdout)
    assert len(page.rows["matrix"]) == 5
    assert "4 of 4 shown" in dom.stdout, "the filter script ran"

    # The filter (given in the address) hides the rows that do not match, in the browser.
    filtered = browse((out / "index.html").as_uri() + "#payments", profile, "--dump-dom")
    rows = Page(filtered.stdout).rows["matrix"][1:]
    assert [("hidden" in r["class"], "payments" in r["text"]) for r in rows].count((False, True)) == 1
    assert sum("hidden" not in r["class"] for r in rows) == 1
    assert "1 of 4 shown" in filtered.stdout

    session = browse((out / "sessions/payments.html").as_uri() + "#spec-L16", profile, "--dump-dom")
    spage = Page(session.stdout)
    assert any("IDSE-A003" in r["text"] for r in spage.rows["findings"])
    assert re.search(r'<details class="doc" id="doc-spec" open="?"?', session.stdout), (
        "the linked line is shown"
    )

    shots = screenshot_dir(tmp_path)
    for name, url, size in (
        ("index", (out / "index.html").as_uri(), "1280,900"),
        ("session", (out / "sessions/payments.html").as_uri(), "1280,1800"),
    ):
        target = shots / f"site-{name}.png"
        shot = browse(url, profile, f"--screenshot={target}", f"--window-size={size}")
        assert shot.returncode == 0, shot.stderr[-500:]
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000


@pytest.mark.slow
@needs_chromium
def test_a_thousand_sessions_stay_usable(ws, cli, tmp_path):
    """1,000 sessions: one table row each, no giant picture, and the filter still works."""
    sessions = tmp_path / PROJ / "sessions"
    assert cli("session", "create", "s0000").exit_code == 0
    template = sessions / "s0000"
    for i in range(1, 1000):
        sid = f"s{i:04d}"
        shutil.copytree(template, sessions / sid)
        meta = sessions / sid / "metadata/session.json"
        data = json.loads(meta.read_text())
        data["id"] = sid
        meta.write_text(json.dumps(data))
    out = tmp_path / "site"
    report = site(cli, out)
    assert len(report["written"]) == 1002
    text = (out / "index.html").read_text()
    assert "<svg" not in text, "the lineage of 1,000 sessions is the table, not a picture"
    assert len(text) < 2_000_000
    dom = browse((out / "index.html").as_uri() + "#s0999", tmp_path / "profile", "--dump-dom")
    rows = Page(dom.stdout).rows["matrix"][1:]
    assert len(rows) == 1001 and sum("hidden" not in r["class"] for r in rows) == 1
    target = screenshot_dir(tmp_path) / "site-1000.png"
    assert (
        browse((out / "index.html").as_uri(), tmp_path / "profile", f"--screenshot={target}").returncode == 0
    )
